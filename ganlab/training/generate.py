"""New images from a trained run's saved weights: a grid, one file per image, or a latent interpolation.

Everything needed is in the checkpoint (the resolved recipe, the image shape, the weights), so a run
directory can make images on a machine that has neither the training data nor the run's other files.
Images are drawn the way the run drew its own samples (:func:`ganlab.training.sampling.generate_images`), so the
same seed gives the same faces here as :meth:`ganlab.training.loop.Trainer.generate` gave during training.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from ..common.atomic import atomic_write_bytes
from ..common.config import MAX_SEED
from ..common.errors import CheckpointError, ConfigError, GanlabError, RunError
from ..common.whole_numbers import shown
from ..contracts.engine import BuildContext
from ..loading.manager import Plugins
from ..machine.memory import available_host_memory, size_text
from ..page.grids import grid_image, grid_png, png_text
from ..recipes.recipe import current_sections, resolve
from ..rundir.checkpoints import fitting, training_state, whole_number
from ..rundir.rundir import RunDir, ensure_writable_folder
from .conditioning import (
    LabelDistribution,
    condition_grid,
    describe_condition,
    fixed_labels,
    grid_conditions,
    is_conditional,
)
from .returns import build_instance
from .sampling import generate_images, sample, seeded_inputs, seeded_rng


def load_generator(
    run_dir: RunDir,
    plugins: Plugins,
    device: torch.device,
    checkpoint: str | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> tuple[nn.Module, tuple[int, int, int], LabelDistribution | None]:
    """The trained generator of ``run_dir``, the (channels, height, width) of its images and the label
    distribution its labels are drawn from (None for an unconditional generator), from
    ``checkpoint`` (a name in checkpoints/) or the newest valid one; the single place a checkpoint becomes a
    network for sampling. A run trained with ``train.ema`` samples from its averaged weights, as its own
    grids and metrics did."""
    path, state = chosen_checkpoint(run_dir, checkpoint, warn)
    generator = generator_from_state(state, path, plugins, device)
    return generator, image_shape(state, path), label_distribution(state, path) if is_conditional(generator) else None


def chosen_checkpoint(
    run_dir: RunDir, checkpoint: str | None, warn: Callable[[str], None] = lambda message: None
) -> tuple[Path, dict]:
    """The path and loaded state of ``checkpoint`` (a name in checkpoints/), or of the newest valid one."""
    store = run_dir.checkpoint_store
    if checkpoint is None:
        found = store.newest_valid(warn)
        if found is None:
            raise CheckpointError(f"run {str(run_dir.path)!r} has no valid checkpoint yet")
        return store.directory / found[0].file, found[1]
    path, record = store.named(checkpoint, warn)
    return path, store.read(path, record)


def condition_rows(
    run_dir: RunDir, labels: LabelDistribution | None, conditions: Sequence[str]
) -> list[torch.Tensor | None]:
    """One fixed label row (-1 where drawn), ``(1, A)``, per ``--condition`` text, or ``[None]`` for none: a
    row stands for every image, so that no allocation grows with the number of images before that number
    is checked. A condition for an unconditional generator, or naming a bad attribute or value, is a usage
    error naming it and the condition it is in."""
    if conditions and labels is None:
        raise ConfigError(
            "--condition", f"{str(run_dir.path)!r} trained an unconditional generator, which takes no labels"
        )
    rows: list[torch.Tensor | None] = []
    for text in conditions:
        try:
            fixed = labels.space.parse(text)
        except ConfigError as e:
            raise ConfigError(f"--condition {shown(text)}", e.message) from None
        rows.append(fixed_labels(labels.space, fixed, 1))
    return rows or [None]


def label_distribution(state: dict, path: Path) -> LabelDistribution | None:
    """The label distribution of the data a checkpoint's run trained on; None for unlabelled data."""
    if "labels" not in state:
        return None
    with fitting(path, "labels", "a label distribution (space, rows, counts)"):
        return LabelDistribution.from_dict(state["labels"])


def image_shape(state: dict, path: Path) -> tuple[int, int, int]:
    """The (channels, height, width) of the images that the checkpoint read from ``path`` makes."""
    training_state(state, path)
    with fitting(path, "image_shape", "an image shape (channels, height, width)"):
        channels, height, width = (whole_number(n) for n in state["image_shape"])
    return channels, height, width


def generator_from_state(state: dict, path: Path, plugins: Plugins, device: torch.device) -> nn.Module:
    """The generator a loaded checkpoint (read from ``path``) describes, with its trained weights: the
    averaged ones when its recipe kept them (``train.ema``), as the run's own grids and metrics used."""
    return trained_generator(state, path, plugins, device)[0]


def trained_generator(state: dict, path: Path, plugins: Plugins, device: torch.device) -> tuple[nn.Module, str]:
    """:func:`generator_from_state`, and the checkpoint's key of the weights it holds (``ema`` or
    ``generator``), which an export's model card names."""
    generator, key, name = untrained_generator(state, path, plugins, device)
    with fitting(path, key, f"the {name!r} generator installed here"):
        generator.load_state_dict(state[key])
    return generator.to(device), key


def untrained_generator(state: dict, path: Path, plugins: Plugins, device: torch.device) -> tuple[nn.Module, str, str]:
    """A new generator as the recipe of the checkpoint (read from ``path``) builds it, the checkpoint's key
    of the weights that belong in it (``ema`` when its recipe kept averaged weights) and the component's
    name: what any saved generator weights, the checkpoint's or an exported copy of them, are loaded into."""
    channels, size, _ = image_shape(state, path)
    # Sampling needs no evaluator, so a run whose metric plugin is gone can still make images.
    source = f"{path} (its recipe)"
    recorded = current_sections(state["recipe"], source, quiet=True)
    without_evaluators = {key: value for key, value in recorded.items() if key != "evaluators"}
    recipe = resolve(without_evaluators, plugins.registry, source)
    component = recipe.component("generator")
    labels = label_distribution(state, path)
    context = BuildContext(
        seed=recipe.experiment.seed,
        device=device,
        image_size=size,
        channels=channels,
        label_space=labels.space if labels is not None else None,
    )
    generator = build_instance(component, context, recipe.source)
    return generator, "ema" if recipe.train.ema > 0 else "generator", component.name


def images(
    generator: nn.Module,
    num: int,
    seed: int,
    device: torch.device,
    labels: LabelDistribution | None = None,
    fixed: torch.Tensor | None = None,
    truncation: float | None = None,
) -> torch.Tensor:
    """``num`` images as uint8 (N, C, H, W) from ``seed``; a conditional generator's labels drawn from
    ``labels`` with the seed, where ``fixed`` (one row for every image, -1: not fixed) does not fix them;
    latents truncated at ``truncation`` (:func:`ganlab.training.sampling.truncated`) when it is given."""
    return generate_images(generator, num, seeded_rng(seed), device, labels=labels, fixed=fixed, truncation=truncation)


def image_batches(
    generator: nn.Module,
    num: int,
    seed: int,
    device: torch.device,
    labels: LabelDistribution | None = None,
    fixed: torch.Tensor | None = None,
    truncation: float | None = None,
    batch: int = 4096,
) -> Iterator[torch.Tensor]:
    """The images of :func:`images`, ``batch`` at a time, so that writing any number of them one file each
    needs the memory of one batch. ``batch`` is a multiple of the 256 latents drawn at once, so the same
    seed gives the same images as :func:`images` does."""
    rng = seeded_rng(seed)
    for start in range(0, num, batch):
        count = min(batch, num - start)
        yield generate_images(generator, count, rng, device, labels=labels, fixed=fixed, truncation=truncation)


def interpolation(
    generator: nn.Module,
    seed_a: int,
    seed_b: int,
    steps: int,
    device: torch.device,
    labels: LabelDistribution | None = None,
    fixed: torch.Tensor | None = None,
    truncation: float | None = None,
) -> torch.Tensor:
    """``steps`` images along the latent path from ``seed_a``'s first image to ``seed_b``'s; a conditional
    generator keeps ``seed_a``'s first labels (with ``fixed``'s first row applied) all along."""
    (start, end), drawn = first_inputs(generator, (seed_a, seed_b), device, labels, fixed, truncation)
    return sample(generator, slerp(start, end, steps), labels=held(drawn, steps))


def walk(
    generator: nn.Module,
    seed: int,
    points: int,
    frames: int,
    device: torch.device,
    labels: LabelDistribution | None = None,
    fixed: torch.Tensor | None = None,
    truncation: float | None = None,
) -> torch.Tensor:
    """A closed loop through the first images of ``points`` seeds from ``seed`` on (``seed``, ``seed + 1``,
    ...), ``frames`` images per segment along :func:`slerp`'s great circles, the last segment leading back
    to the first point: ``points * frames`` images whose last one is a step away from the first, so the
    loop plays on without a jump. A conditional generator keeps ``seed``'s first labels (with ``fixed``
    applied) in every frame."""
    seeds = [(seed + i) % (MAX_SEED + 1) for i in range(points)]
    latents, drawn = first_inputs(generator, seeds, device, labels, fixed, truncation)
    path = torch.cat([slerp(a, latents[(i + 1) % points], frames + 1)[:-1] for i, a in enumerate(latents)])
    return sample(generator, path, labels=held(drawn, len(path)))


def first_inputs(
    generator: nn.Module,
    seeds: Sequence[int],
    device: torch.device,
    labels: LabelDistribution | None,
    fixed: torch.Tensor | None,
    truncation: float | None,
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """The latent of each seed's first image on ``device`` (what ``ganlab generate --seed S`` draws first),
    and for a conditional generator the first seed's labels with ``fixed``'s first row applied."""
    conditional = labels if is_conditional(generator) else None
    inputs = [seeded_inputs(seeded_rng(seed), 1, generator.latent_dim, conditional, truncation) for seed in seeds]
    drawn = inputs[0][1]
    if drawn is not None and fixed is not None:
        drawn = torch.where(fixed[:1] >= 0, fixed[:1], drawn)
    return [z[0].to(device) for z, _ in inputs], drawn


def held(drawn: torch.Tensor | None, count: int) -> torch.Tensor | None:
    """One label row repeated for ``count`` images (None stays None: an unconditional generator)."""
    return drawn.repeat(count, 1) if drawn is not None else None


def slerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` points on the great circle from ``a`` to ``b``: Gaussian latents live near a sphere,
    and a straight line between two of them passes through unlikely, washed-out middles."""
    t = torch.linspace(0, 1, steps, device=a.device)[:, None]
    omega = torch.arccos(torch.clamp((a / a.norm()) @ (b / b.norm()), -1.0, 1.0))
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def grid_latents(seed: int, grid_size: int, latent_dim: int) -> torch.Tensor:
    """The fixed noise of a run's progress grids: ``train.grid_size`` latents drawn from ``experiment.seed +
    1``, the same for every run of one seed."""
    return torch.randn(grid_size, latent_dim, generator=torch.Generator().manual_seed(seed + 1))


def progress_grid(
    generator: nn.Module, fixed_noise: torch.Tensor, labels: LabelDistribution | None
) -> tuple[torch.Tensor, list[str] | None]:
    """The progress grid of ``fixed_noise``, uint8 ``(C, H, W)``, drawn by the rule every generated image
    follows (:func:`ganlab.training.sampling.sample`), and for a conditional generator (``labels``, its
    data's distribution) the caption of each row: one row per condition (:func:`grid_conditions`), the same
    latents across rows. None for an unconditional one."""
    if labels is None or not is_conditional(generator):
        return grid_image(sample(generator, fixed_noise)), None
    conditions = grid_conditions(labels)
    latents, rows, columns = condition_grid(fixed_noise, conditions)
    grid = grid_image(sample(generator, latents, labels=rows), nrow=columns)
    return grid, [describe_condition(labels.space, row) for row in conditions]


def input_bytes(generator: nn.Module, labels: LabelDistribution | None) -> int:
    """Bytes per image of what a grid or an interpolation draws for all its images before making any: a
    float32 latent vector and, for a conditional generator, int64 labels, each held twice (the blocks
    drawn and their concatenation)."""
    attributes = len(labels.space.attributes) if labels is not None else 0
    return 2 * (4 * generator.latent_dim + 8 * attributes)


def memory_needed(num: int, shape: tuple[int, int, int], interpolate: bool, grid: bool, inputs: int) -> int:
    """Bytes that ``num`` images of ``shape`` occupy at once: uint8 images, the grid's own canvas for a
    grid, the generator's float32 output for an interpolation, which runs as one batch, and ``inputs``
    bytes per image of latents and labels (:func:`input_bytes`)."""
    channels, height, width = shape
    return num * (channels * height * width * (1 + grid + 4 * interpolate) + inputs)


def refuse_what_cannot_fit(
    num: int, shape: tuple[int, int, int], interpolate: bool, grid: bool, inputs: int, asked: str | None = None
) -> None:
    """Refuse, before drawing anything, a request whose images cannot be held in this machine's memory at
    once (a grid, an interpolation); one file per image is made batch by batch and needs no such check.
    ``asked`` is the request in the options the user gave (default ``--num NUM``)."""
    needed, available = memory_needed(num, shape, interpolate, grid, inputs), available_host_memory()
    if available is None or needed <= available:
        return
    hint = "" if interpolate else ", or write one PNG per image with --out-dir, which makes them in batches"
    raise GanlabError(
        f"{asked or f'--num {num}'}: {'an interpolation' if interpolate else 'a grid'} of {num} images of "
        f"{'x'.join(map(str, shape))} needs about {size_text(needed)} of memory at once, and this "
        f"machine has {size_text(available)} available; ask for fewer images{hint}"
    )


def check_grid_path(path: Path) -> None:
    """Refuse, before any image is made, a grid path that cannot be written: a folder in its place, a parent
    that is a file or cannot take new files. A missing parent folder is made."""
    if path.is_dir():
        raise RunError(f"-o {str(path)!r} is a folder; give the path of the PNG file to write")
    ensure_writable_folder(path.parent, "-o: ")


def check_image_folder(folder: Path) -> None:
    """What :func:`check_grid_path` does for ``--out-dir``: the folder is made, a file in its place refused."""
    ensure_writable_folder(folder, "--out-dir: ")


SMALLEST_PNG = 67
"""Bytes of the smallest PNG file there is (one pixel): no image written takes less."""


def refuse_what_the_disk_cannot_hold(folder: Path, num: int) -> None:
    """Refuse, before drawing anything, more PNG files than ``folder``'s file system has room or file entries
    for: images are made in batches, so memory never stops a huge ``--num``, and the disk would fill after
    hours of work instead."""
    try:
        room = os.statvfs(folder)
    except (OSError, AttributeError):  # not a POSIX system, or cannot tell: the writes will say
        return
    free_bytes, free_files = room.f_bavail * room.f_frsize, room.f_favail
    if num * SMALLEST_PNG > free_bytes or (free_files and num > free_files):
        raise GanlabError(
            f"--num {num}: {num:,} PNG files do not fit in {str(folder)!r}, which has room for "
            f"{size_text(free_bytes)} and {free_files:,} more files; ask for fewer images"
        )


def made_with(run_dir: RunDir, checkpoint: str | None, seed: int, truncation: float | None) -> dict[str, str]:
    """What an image file ``ganlab generate`` writes records of how it was made (its PNG text chunks, a GIF's
    comment): the run, the checkpoint asked for, the seed and the truncation psi ("none": untruncated)."""
    return {
        "ganlab:run": str(run_dir.path),
        "ganlab:checkpoint": checkpoint or "newest valid",
        "ganlab:seed": str(seed),
        "ganlab:truncation": "none" if truncation is None else repr(float(truncation)),
    }


def write_grid(
    images: torch.Tensor, path: Path, nrow: int | None = None, text: Mapping[str, str] | None = None
) -> Path:
    """uint8 (N, C, H, W) as one PNG grid (a square one unless ``nrow`` is given), written atomically, with
    ``text`` (:func:`made_with`) in its text chunks."""
    try:
        atomic_write_bytes(path, grid_png(images, nrow, text))
    except OSError as e:
        raise RunError(f"cannot write the grid {str(path)!r}: {e.strerror or e}") from None
    return path


def write_each(
    batches: Iterable[torch.Tensor], folder: Path, stem: str = "image", text: Mapping[str, str] | None = None
) -> int:
    """uint8 (N, C, H, W) batches as one PNG per image, ``folder/stem_0000.png`` upwards, each with ``text``
    in its text chunks; returns how many."""
    count = 0
    for images in batches:
        for image in images:
            array = image.permute(1, 2, 0).numpy()
            path = folder / f"{stem}_{count:04d}.png"
            try:
                Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path, pnginfo=png_text(text))
            except OSError as e:
                raise RunError(
                    f"cannot write {str(path)!r}: {e.strerror or e}; the {count} images before it are written"
                ) from None
            count += 1
    return count
