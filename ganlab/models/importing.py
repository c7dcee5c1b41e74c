"""``ganlab import``: a generator trained elsewhere becomes a run directory that ``generate``, ``evaluate``,
``report``, ``compare`` and ``export`` use like any run.

The weights are read without unpickling anything (``torch.load(weights_only=True)``, or safetensors
natively), from a file no larger than :data:`MAX_WEIGHTS_BYTES`. They load into the generator the recipe
builds by name; where the names differ (pytorch/examples' DCGAN calls its layers ``main.N``, ganlab's
``net.N``) they are matched in order, but only when the two layouts are the same list of tensors: the same
number, each pair of the same shape and the same kind (``weight``, ``bias``, ``running_mean``...), and what
was matched is recorded. Anything else is a mismatch named parameter by parameter, as a resume names one.

The run holds one checkpoint, ``imported.pt``: the generator's weights, the recipe and the image shape, and
where they came from; no discriminator, optimizers or training history, so it is marked ``imported`` in
meta.json and resuming it is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..common.atomic import atomic_write_bytes
from ..common.errors import ArgumentError, CheckpointError, RecipeError, RunError, first_line, warn
from ..common.files import unusual
from ..contracts.engine import BuildContext
from ..loading.manager import Plugins
from ..page.grids import png
from ..recipes.recipe import Recipe, parse_toml, resolve
from ..registry.registry import Registry
from ..report.build import write_report
from ..rundir.checkpoints import IMPORTED, fitting, load_checkpoint
from ..rundir.rundir import RunDir, now_iso
from ..training.conditioning import LabelDistribution, is_conditional
from ..training.generate import grid_latents, progress_grid
from ..training.lifecycle import environment
from ..training.returns import build_instance
from .extras import needed

MAX_WEIGHTS_BYTES = 4 << 30
"""The largest weights file ``ganlab import`` reads (4 GiB): a GAN generator is megabytes to a few hundred;
a bigger file is something else given by mistake, and would be read into memory whole."""
CHANNELS = 3
"""The channels of the images an imported generator makes: those of every data set ganlab ships. A
generator of another count does not fit (its output layer's shape is named)."""
CHECKPOINT = "imported.pt"
NO_EMA = "train.ema=0"
"""The override every import's recipe gets (:func:`without_ema`)."""


def read_weights(path: Path, limit: int = MAX_WEIGHTS_BYTES) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` (parameter name -> tensor); a CheckpointError (exit 6) naming the file
    for one that is missing, too large, damaged, pickles objects, or holds anything but a state dict."""
    kind = unusual(path)
    if kind is not None:
        raise CheckpointError(f"weights {str(path)!r} {kind}")
    if not path.is_file():
        what = "is a folder, not a weights file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"weights {str(path)!r} {what}")
    size = path.stat().st_size
    if size > limit:
        raise CheckpointError(
            f"weights {str(path)!r} are {size:,} bytes, more than the {limit:,} that ganlab import reads; "
            "a generator's state dict is far smaller"
        )
    weights = safetensors_file(path) if is_safetensors(path) else load_checkpoint(path)
    return state_dict(weights, path)


def is_safetensors(path: Path) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON header starting with ``{``."""
    with open(path, "rb") as f:
        head = f.read(9)
    return path.suffix == ".safetensors" or (len(head) == 9 and head[8:9] == b"{")


def recorded(path: Path) -> dict[str, str]:
    """The metadata of the safetensors file ``path`` (what ``ganlab export`` recorded with the weights:
    ``ganlab:recipe``, ``ganlab:labels``...); nothing for another file or one whose header is damaged
    (:func:`read_weights` names the damage)."""
    if not path.is_file() or unusual(path) is not None or not is_safetensors(path):
        return {}
    safetensors = needed("safetensors", f"importing {path.name}")
    try:
        with safetensors.safe_open(str(path), "pt") as f:
            return dict(f.metadata() or {})
    except Exception:  # safetensors' own SafetensorError, or an OSError
        return {}


def recorded_recipe(path: Path, registry: Registry, overrides: list[str] = ()) -> Recipe:
    """The recipe that ``ganlab export`` recorded in the safetensors file ``path``, resolved with
    ``overrides``: what ``ganlab import FILE.safetensors`` uses when no ``--recipe`` is given. Any other file
    is an ArgumentError asking for the recipe."""
    text = recorded(path).get("ganlab:recipe")
    if text is None:
        raise ArgumentError(
            f"{str(path)!r} records no recipe (only a safetensors file written by ganlab export does); "
            "give the recipe whose generator the weights belong in with --recipe"
        )
    try:
        table = parse_toml(text)
    except ValueError as e:  # tomllib's TOMLDecodeError, or parse_toml's own: an edited header
        raise CheckpointError(f"weights {str(path)!r}: its ganlab:recipe is not a TOML recipe ({e})") from None
    return resolve(table, registry, f"{path} (its recipe)", overrides)


def recorded_labels(path: Path) -> LabelDistribution | None:
    """The label distribution a conditional generator's export recorded (``ganlab:labels``); None if none."""
    text = recorded(path).get("ganlab:labels")
    if text is None:
        return None
    try:
        return LabelDistribution.from_dict(json.loads(text))
    except Exception as e:  # an edited header: whatever it holds, it is not a label distribution
        raise CheckpointError(f"weights {str(path)!r}: its ganlab:labels is not a label distribution ({e})") from None


def safetensors_file(path: Path) -> dict[str, Any]:
    safetensors_torch = needed("safetensors.torch", f"importing {path.name}")
    try:
        return safetensors_torch.load(path.read_bytes())
    except Exception as e:  # safetensors raises its own SafetensorError, or an OSError
        raise CheckpointError(f"weights {str(path)!r} are not a readable safetensors file: {first_line(e)}") from None


def state_dict(weights: Any, path: Path) -> dict[str, torch.Tensor]:
    """``weights`` once it is a state dict: a non-empty dict of names to tensors."""
    if (
        isinstance(weights, Mapping)
        and weights
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items())
    ):
        return dict(weights)
    if isinstance(weights, Mapping):
        others = [f"{k!r} ({type(v).__name__})" for k, v in weights.items() if not isinstance(v, torch.Tensor)]
        what = f"entries that are not tensors: {', '.join(others[:5])}" if others else "nothing"
    else:
        what = f"a {type(weights).__name__}"
    raise CheckpointError(
        f"weights {str(path)!r} are not a generator's state dict (parameter names to tensors); the file holds {what}"
    )


def matched(weights: dict[str, torch.Tensor], generator: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``weights`` under the generator's own names, and what was renamed (theirs -> ours): nothing where
    the names are the generator's, every tensor in order where the layouts are the same list of tensors
    (:func:`same_layout`). Otherwise ``weights`` unchanged, for loading to name what does not fit."""
    expected = generator.state_dict()
    if set(weights) == set(expected) or not same_layout(weights, expected):
        return weights, {}
    renamed = dict(zip(weights, expected))
    return {renamed[name]: tensor for name, tensor in weights.items()}, renamed


def same_layout(weights: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``weights`` and ``expected`` are the same tensors in the same order under other names: as
    many, each pair of the same shape and the same last name part (``weight``, ``running_var``...)."""
    return len(weights) == len(expected) and all(
        ours.shape == theirs.shape and name.rsplit(".", 1)[-1] == own.rsplit(".", 1)[-1]
        for (name, theirs), (own, ours) in zip(weights.items(), expected.items())
    )


def refuse_unusable_values(
    weights: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path: Path
) -> None:
    """Refuse weights that would load without a word and make no images: integers where the generator holds
    floating-point numbers (``load_state_dict`` casts them, truncating every weight to a whole number), or
    NaN or infinite values (every image would be NaN). Lower precisions (float16, bfloat16) are widened as
    they load, which loses nothing. Names ``expected`` does not have are left for loading to name."""
    for name, tensor in weights.items():
        own = expected.get(name)
        if own is not None and own.is_floating_point() and not tensor.is_floating_point():
            raise CheckpointError(
                f"weights {str(path)!r}: {name} is {tensor.dtype} in the file, where the generator holds "
                f"floating-point numbers ({own.dtype}); these are not a generator's weights"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"weights {str(path)!r}: {name} holds NaN or infinite values; the generator would make no images"
            )


def renaming(renamed: dict[str, str]) -> str:
    """The renaming in words: ``main.* -> net.*`` where one prefix became another, else each pair."""
    prefixes = {
        (theirs[: len(theirs) - len(common)], ours[: len(ours) - len(common)])
        for theirs, ours in renamed.items()
        for common in [suffix(theirs, ours)]
    }
    if len(prefixes) == 1:
        theirs, ours = next(iter(prefixes))
        return f"{theirs}* -> {ours}*"
    return ", ".join(f"{theirs} -> {ours}" for theirs, ours in renamed.items())


def suffix(a: str, b: str) -> str:
    """The longest common ending of ``a`` and ``b`` that starts at a name part."""
    parts_a, parts_b = a.split("."), b.split(".")
    common: list[str] = []
    while parts_a and parts_b and parts_a[-1] == parts_b[-1]:
        common.insert(0, parts_a.pop())
        parts_b.pop()
    return ".".join(common)


def generator_of(
    recipe: Recipe, device: torch.device, labels: LabelDistribution | None
) -> tuple[nn.Module, tuple[int, int, int]]:
    """The recipe's generator, newly built, and the shape of its images, without the data set (the data may
    be elsewhere: a netG.pth comes without CelebA): the size is the recipe's ``data.image_size``. A
    conditional generator needs ``labels``, the distribution of the data it learnt, which only a ganlab
    export records."""
    size = getattr(recipe.component("data").config, "image_size", None)
    if not isinstance(size, int):
        raise RecipeError(
            recipe.source, ["data: ganlab import takes the image size from data.image_size, which it lacks"]
        )
    space = labels.space if labels is not None else None
    context = BuildContext(
        seed=recipe.experiment.seed, device=device, image_size=size, channels=CHANNELS, label_space=space
    )
    generator = build_instance(recipe.component("generator"), context, recipe.source)
    if is_conditional(generator) and labels is None:
        raise RecipeError(
            recipe.source,
            [
                f"generator: {recipe.component('generator').name!r} is conditional; ganlab import brings it in "
                "only from a safetensors file that ganlab export wrote, which records the label distribution "
                "of the data it learnt"
            ],
        )
    return generator, (CHANNELS, size, size)


def without_ema(recipe: Recipe) -> Recipe:
    """``recipe`` with ``train.ema = 0``, recorded as an override: imported weights are the weights, not an
    average of training steps that ganlab never ran, and its commands sample from them as they are."""
    if recipe.train.ema == 0:
        return recipe
    train = dataclasses.replace(recipe.train, ema=0.0)
    return dataclasses.replace(recipe, train=train, overrides=(*recipe.overrides, NO_EMA))


def import_weights(path: Path, recipe: Recipe, plugins: Plugins, out: Path, name: str | None = None) -> RunDir:
    """A new run directory in ``out`` holding the generator weights in ``path``, loaded into ``recipe``'s
    generator (:func:`without_ema`), its report written. Everything is read and checked before the
    directory is made, so a refused import leaves nothing behind."""
    path, recipe = Path(path), without_ema(recipe)
    labels = recorded_labels(path)
    generator, shape = generator_of(recipe, torch.device("cpu"), labels)
    weights = read_weights(path)
    loaded, renamed = matched(weights, generator)
    refuse_unusable_values(loaded, generator.state_dict(), path)
    component = recipe.component("generator").name
    with fitting(path, "state dict", f"the {component!r} generator of {recipe.source}"):
        generator.load_state_dict(loaded)
    data = path.read_bytes()
    origin = {
        "source": str(path.resolve()),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "format": "safetensors" if is_safetensors(path) else "torch",
        "names": f"matched in order: {renaming(renamed)}" if renamed else "the generator's own",
        "time": now_iso(),
    }
    run_dir = RunDir.create(out, name or f"{recipe.experiment.name}-imported")
    try:
        run_dir.recipe_path.write_text(recipe.to_toml(), "utf-8")
        conditional = is_conditional(generator)
        label_records = {"label_space": labels.space.to_dict(), "labels": labels.to_dict()} if conditional else {}
        run_dir.write_meta({**imported_meta(run_dir, recipe, plugins, origin), **label_records})
        fixed_noise = grid_latents(recipe.experiment.seed, recipe.train.grid_size, generator.latent_dim)
        state = {
            "generator": generator.state_dict(),
            "recipe": recipe.to_dict(),
            "image_shape": list(shape),
            "step": 0,
            "epoch": 0,
            "fixed_noise": fixed_noise,
            IMPORTED: origin,
            **({"labels": labels.to_dict()} if conditional else {}),
        }
        run_dir.save_checkpoint(CHECKPOINT, state)
        save_grid(run_dir, generator, fixed_noise, labels if conditional else None)
        try:
            write_report(run_dir, plugins.registry)
        except Exception as e:  # the report is derived and rebuildable (as at a run's end); the import is done
            run_dir.update_meta(report_error=f"{type(e).__name__}: {e}")
            warn(
                f"the report of {str(run_dir.path)!r} could not be written ({type(e).__name__}: {e}); try again "
                f"with: ganlab report {run_dir.path}"
            )
    except BaseException as e:  # a disk error, Ctrl-C: a half-made import is no run, and nothing else is in it
        run_dir.unlock()
        shutil.rmtree(run_dir.path, ignore_errors=True)
        if isinstance(e, OSError):
            raise RunError(f"cannot write the run directory {str(run_dir.path)!r}: {e.strerror or e}") from None
        raise
    run_dir.unlock()
    return run_dir


def save_grid(
    run_dir: RunDir, generator: nn.Module, fixed_noise: torch.Tensor, labels: LabelDistribution | None
) -> None:
    """The imported generator's grid of the run's fixed noise, as a trained run's last progress grid
    (``samples/epoch_0000.png``, and a conditional one's row captions): what the report shows of it."""
    grid, rows = progress_grid(generator, fixed_noise, labels)
    if rows is not None:
        atomic_write_bytes(run_dir.grid_rows_path, json.dumps(rows, indent=1).encode())
    atomic_write_bytes(run_dir.grid_path(0), png(grid))


def imported_meta(run_dir: RunDir, recipe: Recipe, plugins: Plugins, origin: dict[str, Any]) -> dict[str, Any]:
    """meta.json of an imported run: status ``imported``, no steps, where the weights came from."""
    return {
        "name": run_dir.name,
        "experiment": recipe.experiment.name,
        "status": "imported",
        "recipe_source": recipe.source,
        "overrides": list(recipe.overrides),
        "created": now_iso(),
        "started": None,
        "ended": None,
        "seed": recipe.experiment.seed,
        "device": "cpu",
        "steps": 0,
        "total_steps": 0,
        "epochs_completed": 0,
        "epochs": 0,
        "versions": environment(plugins),
        "error": None,
        "imported": origin,
    }
