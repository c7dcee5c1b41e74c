"""Continue an interrupted, crashed or stopped run exactly where its newest valid checkpoint left it.

The checkpoint holds every piece of state that decides what happens next (weights, optimizers,
counters, RNG states, the evaluators' accumulated values) and the data order is a pure function of the seed
and the epoch, so on the same device the resumed run ends bit for bit where an uninterrupted one would.
Everything the run wrote after the checkpoint (every log's later records, its evaluators' included, and the
later grids) is dropped first: the steps after it run again and write it once. It is dropped only once
everything else is in place (the lock, the run's folders and that they can be written, the recipe, a
checkpoint that fits), so a resume that cannot go on loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..common.atomic import atomic_write_text
from ..common.errors import CheckpointError, RecipeError, RunError, warn
from ..loading.manager import Plugins
from ..machine import distributed
from ..machine.devices import recipe_device
from ..recipes.recipe import Recipe, current_sections, dotted_settings, read_toml, resolve
from ..registry.registry import Registry
from ..rundir.checkpoints import generator_only, training_state
from ..rundir.rundir import RunDir, now_iso
from .assemble import build
from .lifecycle import execute, label_records
from .loop import Trainer
from .state import load_checkpoint_state, written_on

SAFE_TO_CHANGE: tuple[str, ...] = (
    "train.epochs",
    "train.max_steps",
    "train.log_every",
    "train.grid_every",
    "train.num_workers",
    "train.threads",
    "checkpoint.",
)
"""Recipe keys (or, ending in a dot, sections) a resume may change: how long to train, how often to log and
draw progress grids, how many loader processes and threads, when to checkpoint and what to keep. Changing
anything else would make the continued run a different experiment from the one its checkpoint belongs to."""


def recipe_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Every dotted key whose value differs between two resolved recipes: key -> (before, after)."""
    old, new = dict(dotted_settings(before)), dict(dotted_settings(after))
    return {
        key: (old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)
    }


def is_safe_change(key: str) -> bool:
    return any(key.startswith(safe) if safe.endswith(".") else key == safe for safe in SAFE_TO_CHANGE)


def recorded_recipe(recorded: dict[str, Any], registry: Registry, source: str) -> Recipe:
    """The recipe a run was trained with, as the installed ganlab and plugins read it.

    A setting added by an upgrade since then takes its default, as it does in the resumed recipe, so it
    is no change; a setting the installed code no longer knows cannot be honoured and is refused.
    """
    try:
        return resolve(current_sections(recorded, source, quiet=True), registry, source)
    except RecipeError as e:
        raise RecipeError(
            source,
            e.problems
            + [
                "the run was trained with settings that the installed ganlab and plugins do not accept; resume "
                "it with the versions that started it (meta.json lists them), or start a new run"
            ],
        ) from None


def refuse_unsafe_changes(before: dict[str, Any], after: dict[str, Any], source: str) -> None:
    """Raise a RecipeError listing every changed key that a resume must not change."""
    unsafe = {k: v for k, v in recipe_changes(before, after).items() if not is_safe_change(k)}
    if unsafe:
        problems = [
            f"{key}: was {old!r} when the checkpoint was written, now {new!r}" for key, (old, new) in unsafe.items()
        ]
        problems.append(
            "a resume may change only "
            + ", ".join(s.rstrip(".") for s in SAFE_TO_CHANGE)
            + "; start a new run to change anything else"
        )
        raise RecipeError(source, problems)


def resume_run(
    path: str | Path,
    plugins: Plugins,
    overrides: list[str] = (),
    progress: bool = True,
    warn: Callable[[str], None] = warn,
) -> RunDir:
    """Continue the run in ``path`` from its newest valid checkpoint and leave its directory complete.

    ``overrides`` (``--set``) may change only :data:`SAFE_TO_CHANGE`, e.g. more epochs. A run that has
    already done all its steps, or that another process is writing, is refused.
    """
    run_dir = RunDir.open(path)
    try:
        if distributed.world_from_env().is_main:  # the other processes of a torchrun only read
            run_dir.lock()
            run_dir.prepare_for_writing()
        run = restore(run_dir, plugins, list(overrides), progress, warn)
    except BaseException:
        run_dir.unlock()
        raise
    execute(run)
    return run_dir


def refuse_to_discard(run_dir: RunDir) -> None:
    """Refuse to start a run again from step 0 while it has checkpoints, however damaged.

    Starting again drops everything the run logged and drew. That is harmless for a run stopped before
    its first checkpoint was recorded (killed while writing it, a single file the manifest never listed
    may be left), but a run whose checkpoints are all damaged (or whose manifest was lost) holds training
    the user may still want to inspect or rescue, so it is kept unless they clear the way.
    """
    store = run_dir.checkpoint_store
    files = sorted(path.name for path in store.directory.glob("*.pt"))
    first_write_interrupted = len(files) == 1 and not store.records()
    if files and not first_write_interrupted:
        raise CheckpointError(
            f"run {str(run_dir.path)!r}: none of its checkpoints can be resumed from ({', '.join(files)}); "
            "resuming would start it again from step 0 and drop everything it logged. Start a new run from "
            f"{str(run_dir.recipe_path)!r} instead, or move the checkpoints out of "
            f"{str(run_dir.checkpoint_store.directory)!r} to restart this one from step 0"
        )


def restore(
    run_dir: RunDir, plugins: Plugins, overrides: list[str], progress: bool, warn: Callable[[str], None]
) -> Trainer:
    """A :class:`Trainer` positioned at the newest valid checkpoint, its files cut back to that step.

    Nothing of the run is changed until everything the resumed run needs has been read and checked (its
    meta.json, recipe, checkpoint, and that the checkpoint fits the networks built here): a resume refused
    on the way leaves every file as it found it.
    """
    source = str(run_dir.recipe_path)
    meta = run_dir.read_checked_meta()
    document = read_toml(run_dir.recipe_path)
    found = run_dir.checkpoint_store.newest_valid(warn)
    if found is not None and generator_only(found[1]):
        raise CheckpointError(
            f"run {str(run_dir.path)!r} was imported (ganlab import): its checkpoint holds a generator only, "
            "with no discriminator, optimizers or training state, so it cannot be resumed; train a new run "
            f"from {str(run_dir.recipe_path)!r} instead"
        )
    if found is None:
        refuse_to_discard(run_dir)
        warn(f"{run_dir.path}: no valid checkpoint; the run starts again from step 0")
    checkpoint_path = run_dir.checkpoints_dir / found[0].file if found else None
    recorded = training_state(found[1], checkpoint_path)["recipe"] if found else document
    trained = recorded_recipe(recorded, plugins.registry, source)
    recipe = resolve(document, plugins.registry, source, overrides)
    refuse_unsafe_changes(trained.to_dict(), recipe.to_dict(), source)
    world, device = distributed.join(recipe_device(recipe.experiment.device, recipe.source))
    run = Trainer(build(recipe, device, world.size), run_dir, plugins, progress, world)
    if found is not None and not load_checkpoint_state(run, found[1], checkpoint_path):
        warn(
            f"{run_dir.path}: the checkpoint was written on {written_on(found[1])} and the run continues on "
            f"{run.device.type}; it goes on from there, but draws its latents afresh from its seed, so it "
            "will not end where it would have on the first device"
        )
    if run.step >= run.total_steps:
        raise RunError(
            f"run {str(run_dir.path)!r} already finished all {run.total_steps} steps; nothing to "
            f"resume (to train it longer: --resume {run_dir.path} --set train.epochs=N)"
        )
    if not world.is_main:
        return run
    run_dir.rewind(found[0] if found else None)
    if overrides:
        atomic_write_text(run_dir.recipe_path, recipe.to_toml())
    resumed = meta.get("resumed", []) + [
        {"time": now_iso(), "step": run.step, "overrides": overrides, "checkpoint": found[0].file if found else None}
    ]
    run_dir.update_meta(
        status="running",
        ended=None,
        error=None,
        stop_reason=None,
        total_steps=run.total_steps,
        epochs=recipe.train.epochs,
        resumed=resumed,
        overrides=meta.get("overrides", []) + list(overrides),
        **label_records(run),
    )
    return run
