"""ganlab from Python, for notebooks and scripts: train, resume, open and compare runs in this process.

Each function does what its command does, through the same code: ``run`` is ``ganlab run``, ``resume``
is ``ganlab run --resume``, :meth:`RunResult.generate` is ``ganlab generate``, :meth:`RunResult.export` is
``ganlab export``, ``import_weights`` is ``ganlab import``, ``compare`` is ``ganlab compare``'s grouping.
Errors are the same :class:`ganlab.GanlabError`\\ s the command prints, raised instead of ending the
process. Signal handlers are only those the training installs for its own
duration and puts back when it returns: interrupting a notebook cell during training (the kernel's
SIGINT) stops at the next step, checkpoints, marks the run ``interrupted`` and raises
``RunInterrupted``; the run resumes with :func:`resume`. Every argument is checked on the way in
(:mod:`ganlab.common.arguments`), so a wrong one is refused naming itself, never deep inside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import tomlwrite
from .common.arguments import (
    FLAG,
    PATH,
    TEXT,
    Accepts,
    checked,
    in_recipe,
    is_path,
    is_whole,
    one_of,
    plain,
    whole_number,
)
from .common.config import MAX_SEED
from .common.errors import ArgumentError, ConfigError, RecipeError, RunError, warn
from .compare.page import compare as compare_runs
from .compare.run_set import expand
from .compare.seed_groups import GroupedComparison
from .evaluators.samples import display_width
from .loading.manager import load_plugins_or_warn
from .machine.devices import DEVICES, resolve_device
from .models import importing
from .models.export import FORMATS, Exported, export_run
from .page import html as h
from .recipes.recipe import Recipe, load_recipe, parse_toml, read_toml, resolve
from .report.core_sections import by_metric, last_epoch_means
from .rundir.records import METRIC_LABELS
from .rundir.rundir import RunDir
from .training import generate as generating
from .training.lifecycle import run_recipe
from .training.resume import resume_run
from .training.sampling import truncation_problem
from .tuning.plan import TuneRequest
from .tuning.results import TuneResult, study_result
from .tuning.search import run_study

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

DICT_SOURCE = "recipe (a dict)"
"""How errors and meta.json name a recipe given as a dict rather than a file."""

RECIPE = Accepts(
    "a path to a TOML recipe or a dict shaped like one",
    lambda value: is_path(value) or isinstance(value, Mapping),
    in_recipe,
)
OVERRIDES = Accepts(
    "a dict of dotted keys to values, such as {'train.epochs': 3}",
    lambda value: isinstance(value, Mapping) and all(isinstance(key, str) for key in value),
    in_recipe,
).or_none()
SPACE = Accepts(
    "a dict of dotted keys to distributions, such as {'loss.real_label': {'low': 0.8, 'high': 1.0}}",
    lambda value: isinstance(value, Mapping) and all(isinstance(key, str) for key in value),
    in_recipe,
).or_none()
PATHS = Accepts(
    "a path, or a non-empty list or tuple of paths",
    lambda value: is_path(value) or (isinstance(value, (list, tuple)) and len(value) > 0 and all(map(is_path, value))),
    plain(RunError),
)
RUN_DIR = Accepts(
    "a ganlab.RunDir (ganlab.load_run(path) makes the RunResult of a path)", lambda value: isinstance(value, RunDir)
)
TRUNCATION = Accepts(
    "a finite number above 0 (a truncation psi)", lambda value: truncation_problem(value) is None
).or_none()
CHECKPOINT = Accepts(
    "a file name in checkpoints/ or an epoch number", lambda value: isinstance(value, str) or is_whole(value)
).or_none()


class RunResult:
    """A run directory seen from Python. Every property reads the directory afresh, so an object kept in a
    notebook shows a run that is still training (in another process) as it progresses."""

    def __init__(self, run_dir: RunDir):
        self.run_dir = checked("ganlab.RunResult", "run_dir", run_dir, RUN_DIR)

    @property
    def path(self) -> Path:
        return self.run_dir.path

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json, its fields of the wrong type left out with a warning (as the report reads it)."""
        return self.run_dir.read_checked_meta()

    @property
    def status(self) -> str:
        """running, finished, failed, interrupted, diverged, imported (``ganlab import``), or the word of a
        component that ended the run early (``pruned``)."""
        return str(self.meta.get("status", "unknown"))

    @property
    def recipe(self) -> dict[str, Any]:
        """The resolved recipe the run trained with (its recipe.toml), as plain TOML values."""
        return read_toml(self.run_dir.recipe_path)

    @property
    def metrics(self) -> pd.DataFrame:
        """metrics.jsonl, one row per generator update (step, epoch, loss_d, loss_g, d_real, d_fake, time)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.run_dir.read_metrics())

    @property
    def evaluations(self) -> pd.DataFrame:
        """evaluations.jsonl, one row per score (metric, value, step, epoch, time, and its protocol)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.run_dir.read_evaluations())

    def samples(self) -> list[Image.Image]:
        """The progress grids (the fixed noise after each epoch), in epoch order; a file that is not a
        readable image is left out with a warning."""
        grids = (_opened(path) for _, path in self.run_dir.sample_grids())
        return [grid for grid in grids if grid is not None]

    def generate(
        self,
        num: int = 16,
        seed: int = 0,
        checkpoint: str | int | None = None,
        device: str = "auto",
        condition: str | None = None,
        truncation: float | None = None,
    ) -> list[Image.Image]:
        """``num`` new images, one PIL image each, from the newest valid checkpoint (or ``checkpoint``: a
        file name in checkpoints/ or an epoch number): the images ``ganlab generate --seed SEED --num NUM``
        makes, in the same order. ``condition`` (a conditional run's ``"Smiling=1,Eyeglasses=0"``, as
        ``--condition`` takes it) fixes those attributes; the others are drawn from the data's labels.
        ``truncation`` (psi) resamples every latent entry outside ``[-psi, psi]``, as ``--truncation`` does."""
        from PIL import Image

        function = "RunResult.generate"
        checked(function, "num", num, whole_number(1))
        checked(function, "seed", seed, whole_number(0, MAX_SEED))
        checked(function, "checkpoint", checkpoint, CHECKPOINT)
        checked(function, "device", device, one_of(DEVICES))
        checked(function, "condition", condition, TEXT.or_none())
        checked(function, "truncation", truncation, TRUNCATION)
        try:
            torch_device = resolve_device(device)
        except ConfigError as e:
            raise ArgumentError(f"{function}: device={device!r}: {e.message}") from None
        generator, shape, labels = generating.load_generator(
            self.run_dir, load_plugins_or_warn(), torch_device, None if checkpoint is None else str(checkpoint), warn
        )
        fixed = generating.condition_rows(self.run_dir, labels, [condition] if condition else [])[0]
        generating.refuse_what_cannot_fit(
            num, shape, interpolate=False, grid=False, inputs=generating.input_bytes(generator, labels)
        )
        images = generating.images(generator, num, seed, torch_device, labels, fixed, truncation)
        arrays = [image.permute(1, 2, 0).numpy() for image in images]
        return [Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a) for a in arrays]

    def export(
        self, path: str | Path, format: str, checkpoint: str | int | None = None, force: bool = False
    ) -> Exported:
        """Export the generator (its EMA weights when the run kept them) to ``path`` as ``format``
        (``"torchscript"``, ``"onnx"`` or ``"safetensors"``) with its model card beside it, as ``ganlab
        export`` does: checked against this run's own images first, nothing written if the check fails.
        Returns the paths written and the check (``verification.max_abs_diff``, ``bit_for_bit``)."""
        function = "RunResult.export"
        checked(function, "path", path, PATH)
        checked(function, "format", format, one_of(FORMATS))
        checked(function, "checkpoint", checkpoint, CHECKPOINT)
        checked(function, "force", force, FLAG)
        plugins = load_plugins_or_warn()
        name = None if checkpoint is None else str(checkpoint)
        return export_run(self.run_dir, plugins, format, Path(path), name, force, warn)

    def summary(self) -> dict[str, Any]:
        """Where the run stands: status, steps and epochs done of planned, its last epoch's mean losses and
        D outputs, and each evaluation metric's latest value."""
        meta, records = self.meta, self.run_dir.read_metrics()
        losses = last_epoch_means(records)[2] if records else {}
        latest = {metric: found[-1]["value"] for metric, found in by_metric(self.run_dir.read_evaluations()).items()}
        return {
            "status": str(meta.get("status", "unknown")),
            "steps": meta.get("steps"),
            "total_steps": meta.get("total_steps"),
            "epochs": meta.get("epochs_completed"),
            "planned_epochs": meta.get("epochs"),
            **{f"{METRIC_LABELS[key]}, last epoch": value for key, value in losses.items()},
            **latest,
        }

    def __repr__(self) -> str:
        return f"RunResult({str(self.path)!r}, status={self.status!r})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the experiment's name, the run directory, the summary and the latest progress grid,
        inlined; every string escaped."""
        rows = "".join(
            f"<tr><th>{h.escape(str(key))}</th><td>{h.escape(_shown(value))}</td></tr>"
            for key, value in self.summary().items()
        )
        grids = self.run_dir.sample_grids()
        grid = ""
        if grids and _opened(grids[-1][1]) is not None:
            epoch, path = grids[-1]
            png = path.read_bytes()
            image = h.image(
                png, "image/png", f"samples after epoch {epoch}", pixelated=True, width=display_width(png, 300)
            )
            grid = f"<figure>{image}<figcaption>samples after epoch {epoch}</figcaption></figure>"
        title = self.meta.get("experiment", self.name)
        return (
            f"<div><strong>{h.escape(title)}</strong> "
            f"<code>{h.escape(str(self.path))}</code><table>{rows}</table>{grid}</div>"
        )


def _opened(path: Path) -> Image.Image | None:
    """The image in ``path``, or None with a warning where it is not a readable image (a grid cut short by
    a full disk, a file a user replaced): one bad file does not hide the others."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.copy()
    except (OSError, SyntaxError, ValueError):  # Pillow's ways of saying "not an image I can read"
        warn(f"{str(path)!r} is not a readable image; left out")
        return None


def _shown(value: Any) -> str:
    return "-" if value is None else h.format_value(value)


def override_texts(overrides: Mapping[str, Any] | None) -> list[str]:
    """``{"train.epochs": 3}`` as the ``--set`` texts ``["train.epochs=3"]``, each value written as TOML so
    that it is read back as the same value (a string stays a string)."""
    texts = []
    for key, value in (overrides or {}).items():
        try:
            texts.append(f"{key}={tomlwrite.value_text(value)}")
        except TypeError as e:
            raise RecipeError(
                "overrides", [f"{key}: {e}; values are TOML values (numbers, strings, booleans, lists, dicts)"]
            ) from None
        except ValueError:  # the one value TOML can hold that Python will not write: a huge int
            raise RecipeError("overrides", [f"{key}: an integer longer than Python writes (4300 digits)"]) from None
        except RecursionError:
            raise RecipeError("overrides", [f"{key}: nested deeper than a recipe may be"]) from None
    return texts


def recipe_from(recipe: str | Path | Mapping[str, Any], overrides: Mapping[str, Any] | None) -> Recipe:
    """The resolved recipe, from a file or from a dict of TOML values (written to TOML and read back, so a
    dict means exactly what the same file would)."""
    plugins = load_plugins_or_warn()
    texts = override_texts(overrides)
    if is_path(recipe):
        return load_recipe(Path(recipe), plugins.registry, texts)
    try:
        document = parse_toml(tomlwrite.dumps(dict(recipe)))
    except (TypeError, ValueError) as e:
        raise RecipeError(DICT_SOURCE, [f"not a TOML document: {e}"]) from None
    except RecursionError:  # nested thousands deep, or a table that holds itself
        raise RecipeError(
            DICT_SOURCE, ["not a TOML document: nested deeper than a recipe may be (or a table holds itself)"]
        ) from None
    return resolve(document, plugins.registry, DICT_SOURCE, texts)


def run(
    recipe: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    out: str | Path = "runs",
    name: str | None = None,
    progress: bool = True,
) -> RunResult:
    """Train ``recipe`` (a path, or a dict shaped like the TOML) in this process, as ``ganlab run`` does;
    ``overrides`` maps dotted keys to values as ``--set`` does (``{"train.epochs": 3}``), ``out`` is the
    folder the run directory goes in, ``name`` its name prefix (default: experiment.name). Returns the
    finished run; a run that stops otherwise raises the error the command prints (``RunInterrupted``,
    ``RunDiverged``, ...), its directory complete and marked so."""
    checked("ganlab.run", "recipe", recipe, RECIPE)
    checked("ganlab.run", "overrides", overrides, OVERRIDES)
    checked("ganlab.run", "out", out, PATH)
    checked("ganlab.run", "name", name, TEXT.or_none())
    checked("ganlab.run", "progress", progress, FLAG)
    resolved = recipe_from(recipe, overrides)
    return RunResult(run_recipe(resolved, load_plugins_or_warn(), Path(out), name, progress=progress))


def resume(path: str | Path, overrides: Mapping[str, Any] | None = None, progress: bool = True) -> RunResult:
    """Continue an interrupted, crashed or stopped run from its newest valid checkpoint, as ``ganlab run
    --resume`` does; ``overrides`` may change what a resume may change (``{"train.epochs": 10}``)."""
    checked("ganlab.resume", "path", path, PATH)
    checked("ganlab.resume", "overrides", overrides, OVERRIDES)
    checked("ganlab.resume", "progress", progress, FLAG)
    return RunResult(resume_run(path, load_plugins_or_warn(), override_texts(overrides), progress=progress))


def import_weights(
    weights: str | Path,
    recipe: str | Path | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    out: str | Path = "runs",
    name: str | None = None,
) -> RunResult:
    """A new run directory in ``out`` from a generator state dict trained elsewhere (``weights``: a
    ``.pth``/``.pt`` read with ``weights_only=True``, or ``.safetensors``), loaded into the generator of
    ``recipe`` (a path or a dict, with ``overrides`` as :func:`run` takes them; None for a safetensors file
    that ``ganlab export`` wrote, which carries its recipe), as ``ganlab import`` does. The run is marked
    imported; it generates, evaluates, reports, compares and exports like a trained one."""
    checked("ganlab.import_weights", "weights", weights, PATH)
    checked("ganlab.import_weights", "recipe", recipe, RECIPE.or_none())
    checked("ganlab.import_weights", "overrides", overrides, OVERRIDES)
    checked("ganlab.import_weights", "out", out, PATH)
    checked("ganlab.import_weights", "name", name, TEXT.or_none())
    plugins = load_plugins_or_warn()
    if recipe is None:
        resolved = importing.recorded_recipe(Path(weights), plugins.registry, override_texts(overrides))
    else:
        resolved = recipe_from(recipe, overrides)
    return RunResult(importing.import_weights(Path(weights), resolved, plugins, Path(out), name))


def load_run(path: str | Path) -> RunResult:
    """The run in ``path``; a folder that is not a run directory raises ``RunError``."""
    return RunResult(RunDir.open(checked("ganlab.load_run", "path", path, PATH)))


def compare(paths: str | Path | Sequence[str | Path]) -> GroupedComparison:
    """The runs ``paths`` name (run directories, folders of runs such as a sweep's, quoted globs: as
    ``ganlab compare`` takes them), grouped by setting, as DataFrames and a statement."""
    checked("ganlab.compare", "paths", paths, PATHS)
    arguments = [Path(path) for path in ([paths] if is_path(paths) else paths)]
    return compare_runs(expand(arguments)).grouped


def tune(
    recipe: str | Path,
    space: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    out: str | Path = "runs",
    progress: bool = True,
    **settings: Any,
) -> TuneResult:
    """Run (or continue) the study of ``recipe``, a recipe file with or without a ``[tune]`` table, as
    ``ganlab tune`` does: ``space`` maps keys to distributions as ``--space`` does (replacing the table's
    entry of the same key), ``overrides`` applies to every trial as ``--set`` does, ``settings`` are the
    ``[tune]`` keys (``trials=20``, ``objective="swd"``, ``jobs=2``...), each overriding the table's.
    Trials run as processes, as the command runs them; ``progress`` prints a line as each ends. Returns
    the study's result once its search and re-check are done."""
    checked("ganlab.tune", "recipe", recipe, PATH)
    checked("ganlab.tune", "space", space, SPACE)
    checked("ganlab.tune", "overrides", overrides, OVERRIDES)
    checked("ganlab.tune", "out", out, PATH)
    checked("ganlab.tune", "progress", progress, FLAG)
    texts = tuple(f"{key}={tomlwrite.value_text(value)}" for key, value in (space or {}).items())
    request = TuneRequest(Path(recipe), texts, tuple(override_texts(overrides)), Path(out), dict(settings))
    folder = run_study(request, load_plugins_or_warn(), print if progress else lambda line: None)
    return study_result(folder)


def load_study(path: str | Path) -> TuneResult:
    """The result of the finished study in ``path`` (a ``ganlab tune`` study's folder)."""
    return study_result(Path(checked("ganlab.load_study", "path", path, PATH)))
