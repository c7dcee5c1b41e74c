"""A sweep from start to end: plan it, check every run before any starts, find where each stands, launch
what is left, and keep ``sweep.json`` up to date as runs end.

Running a sweep again is how it is continued: a finished run is left as it is, a diverged one too (it
would diverge again: same recipe, same seed), an interrupted, failed or killed one (``running`` with no
process behind it) is resumed as ``ganlab run --resume`` resumes it, and a run without a directory is
started. A sweep of the same name with another recipe, grid or seeds is refused, so no run is ever
mixed into a sweep it does not belong to.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..common import tomlwrite
from ..common.atomic import atomic_write_text
from ..common.errors import GanlabError, RecipeError, RunError
from ..common.tomlwrite import value_text
from ..loading.manager import Plugins
from ..recipes.recipe import SWEEP_SECTION, Recipe, resolve
from ..registry.registry import Registry
from ..rundir.rundir import RunDir, ended_early, exclusive_lock, safe_name
from ..training.assemble import build
from .launchers import LOGS, LocalLauncher, SubmititLauncher, SweepTarget, Task
from .manifest import MANIFEST, PENDING, differences, new_manifest, read_manifest, write_manifest
from .plan import GridAxis, PlannedRun, check_size, expand, expand_combinations, overridden_grid_keys, seed_values
from .table import RecipeFile, SweepSettings, read_recipe_file, sweep_definition

LOCK = ".sweep.lock"
BASE_RECIPE = "base-recipe.toml"
"""The base recipe the runs of a sweep given as a ``[sweep]`` table start from, in the sweep's folder."""
LEFT_AS_THEY_ARE = ("finished", "diverged")
"""Run statuses a sweep run again does not touch; nor does it touch a run a component ended early
(:func:`ganlab.rundir.rundir.ended_early`: it would end there again)."""


def left_as_it_is(status: str) -> bool:
    return status in LEFT_AS_THEY_ARE or (status != PENDING and ended_early(status))


def complete(status: str) -> bool:
    """Finished, or ended early by a component as it meant to."""
    return status == "finished" or (status != PENDING and ended_early(status))


@dataclasses.dataclass(frozen=True)
class SweepRequest:
    """What ``ganlab sweep`` was asked: the recipe (which may hold a ``[sweep]`` table), ``--grid``,
    ``--set``, ``--out``, and the sweep options given, by :class:`SweepSettings` field (``{"jobs": 2}``),
    each of which overrides the table's."""

    recipe: Path
    grid: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    out: Path = Path("runs")
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    combinations: tuple[dict[str, Any], ...] = ()
    """When given, the sweep runs only these combinations of the grid's values (each gives every grid key
    a value of its axis), each with every seed, rather than the grid's whole product: how ``ganlab tune``
    re-checks its best settings."""


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """A sweep as checked before anything is made: the recipe file, the base recipe with the shared
    overrides, the grid, the settings, and every run."""

    file: RecipeFile
    overrides: tuple[str, ...]
    base: Recipe
    axes: list[GridAxis]
    settings: SweepSettings
    seeds: list[int]
    runs: list[PlannedRun]

    def recipe(self, run_overrides: list[str], plugins: Plugins) -> Recipe:
        """The base recipe with the shared overrides, then ``run_overrides``."""
        return resolve(self.file.base, plugins.registry, self.file.source, [*self.overrides, *run_overrides])


def plan_sweep(request: SweepRequest, plugins: Plugins) -> SweepPlan:
    """Read and check the sweep: its table and options, the base recipe and every grid value against it,
    every problem of the table, the options and the recipe at once as one RecipeError. Its size is
    checked before a run is expanded."""
    file = read_recipe_file(request.recipe, SWEEP_SECTION)
    problems: list[str] = []
    try:
        axes, settings = sweep_definition(file, request.grid, request.options)
        problems += overridden_grid_keys(axes, request.overrides)
    except RecipeError as e:
        problems += e.problems
    try:
        base = resolve(file.base, plugins.registry, file.source, list(request.overrides))
    except RecipeError as e:
        problems += e.problems
    if problems:
        raise RecipeError(file.source, problems)
    check_size(axes, settings.seeds, file.source)
    seeds = seed_values(base.experiment.seed, settings.seeds, file.source)
    runs = expand_combinations(axes, request.combinations, seeds) if request.combinations else expand(axes, seeds)
    plan = SweepPlan(file, tuple(request.overrides), base, axes, settings, seeds, runs)
    check_grid_values(plan, plugins)
    return plan


def run_sweep(request: SweepRequest, plugins: Plugins, echo: Callable[[str], None]) -> Path:
    """Run (or continue) the sweep; its folder, once every run has finished. A run that did not finish is
    a GanlabError naming it, raised after every other run has had its turn.

    Until every check has passed and the launcher is ready, nothing but the lock is written in the
    sweep's folder, and a folder this call made is removed again if it ends in an error before any run
    started: a refused sweep leaves the folder as it was."""
    plan = plan_sweep(request, plugins)
    runs, settings = plan.runs, plan.settings
    folder = request.out / safe_name(settings.name or f"{plan.base.experiment.name}-sweep")
    wanted = new_manifest(
        folder.name,
        plan.file.source,
        list(request.overrides),
        plan.base.to_dict(),
        plan.axes,
        plan.seeds,
        settings.launcher,
        runs,
    )
    with held_sweep_folder(folder, runs):
        manifest = continued_manifest(folder, wanted, plugins.registry)
        statuses = {run.name: status_of(folder / run.name) for run in runs}
        to_start = [run for run in runs if statuses[run.name] == PENDING]
        tasks = [
            Task(run, resume=statuses[run.name] != PENDING) for run in runs if not left_as_it_is(statuses[run.name])
        ]
        left = len(runs) - len(tasks)
        echo(
            f"sweep {folder.name}: {len(runs)} runs; {left} left as they are, {len(tasks) - len(to_start)} "
            f"to resume, {len(to_start)} to start"
        )
        check_runs(plan, to_start, plugins)
        launcher = ready_launcher(plan, folder) if tasks else None
        _record(folder, manifest, statuses)
        ended = 0

        def on_end(task: Task) -> None:
            nonlocal ended
            ended += 1
            statuses[task.run.name] = status_of(folder / task.run.name)
            _record(folder, manifest, statuses)
            echo(f"[{ended}/{len(tasks)}] {task.run.name}: {progress_note(folder / task.run.name)}")

        try:
            if launcher is not None:
                launcher.run(tasks, on_end)
        except KeyboardInterrupt:
            stopped = [name for name, status in statuses.items() if status == "interrupted"]
            echo(
                f"sweep {folder.name} stopped; {len(stopped)} runs interrupted; run the same command again "
                "to resume them"
            )
            raise
    unfinished = {name: status for name, status in statuses.items() if not complete(status)}
    if unfinished:
        listed = ", ".join(f"{name} ({status})" for name, status in unfinished.items())
        raise GanlabError(
            f"sweep {str(folder)!r}: {len(unfinished)} of {len(runs)} runs did not finish: {listed}; "
            f"their meta.json and {LOGS}/<run>.log say why; the same command again resumes the "
            "interrupted and failed ones"
        )
    return folder


def ready_launcher(plan: SweepPlan, folder: Path) -> LocalLauncher | SubmititLauncher:
    """The launcher the settings ask for, ready to run the sweep's tasks, and the recipe file they start
    from written; a launcher that cannot run here is refused first, before anything is written."""
    settings = plan.settings
    target = SweepTarget(recipe_of_runs(plan, folder).resolve(), plan.overrides, folder.resolve())
    if settings.launcher == "submitit":
        launcher: LocalLauncher | SubmititLauncher = SubmititLauncher(target, settings.slurm)
    else:
        launcher = LocalLauncher(target, settings.jobs, settings.threads)
    if plan.file.table is not None:
        write_base_recipe(plan, target.recipe)
    return launcher


def recipe_of_runs(plan: SweepPlan, folder: Path) -> Path:
    """The recipe file the runs start from: the one given, or, where it holds a ``[sweep]`` table (which
    ``ganlab run`` refuses: a run is one run), that file without the table, in the sweep's folder as
    :data:`BASE_RECIPE`."""
    return Path(plan.file.source) if plan.file.table is None else folder / BASE_RECIPE


def write_base_recipe(plan: SweepPlan, path: Path) -> None:
    try:
        atomic_write_text(
            path,
            f"# {plan.file.source} without its [sweep] table, written by ganlab sweep\n"
            + tomlwrite.dumps(plan.file.base),
        )
    except OSError as e:
        raise RunError(f"cannot write {str(path)!r}: {e.strerror or e}") from None


def check_grid_values(plan: SweepPlan, plugins: Plugins) -> None:
    """Each grid value on its own against the recipe: a RecipeError names every grid value (``--grid
    KEY=VALUE``, ``sweep.grid."KEY" = VALUE``) the recipe does not take, and why."""
    problems: list[str] = []
    for axis in plan.axes:
        for value in axis.values:
            try:
                plan.recipe([f"{axis.key}={value_text(value)}"], plugins)
            except RecipeError as e:
                where = axis.value_where(value)
                problems += [f"{where}: {p}" for p in e.problems if f"{where}: {p}" not in problems]
    if problems:
        raise RecipeError(plan.file.source, problems)


def check_runs(plan: SweepPlan, runs: list[PlannedRun], plugins: Plugins) -> None:
    """Every run about to start through the one check pass ``ganlab run`` makes (``assemble.build``),
    before any starts, so a combination the recipe cannot train stops the sweep while nothing ran.

    Runs of one combination differ only in ``experiment.seed``, which draws numbers and decides no size,
    component or file, so the first of each is built for all: the checks of a sweep of many seeds take
    the time of its combinations (a build draws the data set: seconds each)."""
    built: set[tuple[tuple[str, str], ...]] = set()
    for run in runs:
        combination = tuple(sorted((key, value_text(value)) for key, value in run.settings.items()))
        if combination in built:
            continue
        built.add(combination)
        try:
            build(plan.recipe(run.overrides, plugins))
        except RecipeError as e:
            raise RecipeError(
                e.source, [f"run {run.name} ({' '.join(run.overrides)}): {p}" for p in e.problems]
            ) from None


@contextlib.contextmanager
def held_sweep_folder(folder: Path, runs: list[PlannedRun]) -> Iterator[None]:
    """The sweep's folder, made if need be and locked for the block (two ``ganlab sweep`` of the same
    sweep at once would start the same runs twice); the lock file is removed as the block ends, however
    it ends. A folder the block made is removed again when the block ends in an error (a refusal, a
    stop) before any run of ``runs`` has a directory: a sweep that started nothing leaves nothing."""
    made = missing_folders(folder)
    lock = hold_folder(folder, "sweep", MANIFEST)
    try:
        yield
    except BaseException:
        if made and not any(os.path.lexists(folder / run.name) for run in runs):
            remove_made(made)
        raise
    finally:
        release_lock(lock, folder / LOCK)


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for path in (folder, *folder.parents):
        if os.path.lexists(path):
            break
        missing.append(path)
    return missing


def remove_made(made: list[Path]) -> None:
    """Remove the sweep's folder, then each parent made for it that is still empty. Only ever called on a
    folder this process made and holds locked, in which no run started: nothing in it is anyone else's."""
    shutil.rmtree(made[0], ignore_errors=True)
    for parent in made[1:]:
        try:
            parent.rmdir()
        except OSError:  # something else was made in it meanwhile: it stays
            break


def hold_folder(folder: Path, kind: str, record: str, lock_name: str = LOCK) -> int:
    """Create the folder of a ``kind`` ("sweep", "study") if need be and lock it (the lock's file
    descriptor). A folder with files but no ``record`` (its sweep.json, study.json) is someone else's and
    refused."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        entries = {entry.name for entry in folder.iterdir()}
    except OSError as e:
        raise RunError(f"cannot create the {kind}'s folder {str(folder)!r}: {e.strerror or e}") from None
    if entries - {lock_name} and record not in entries:
        raise RunError(
            f"{str(folder)!r} holds files but no {record}, so it is no {kind}'s folder; give the "
            f"{kind} another --name or --out"
        )
    while True:
        lock = exclusive_lock(folder / lock_name, f"{kind} {str(folder)!r}", busy="run")
        if holds(lock, folder / lock_name):
            return lock
        os.close(lock)  # one that ended removed the file between its opening and its locking


def holds(lock: int, path: Path) -> bool:
    """Whether the descriptor ``lock`` is of the file at ``path`` now: a lock file is removed as its sweep
    ends, so a lock taken on one just removed locks nothing."""
    try:
        return os.path.samestat(os.fstat(lock), os.stat(path))
    except OSError:
        return False


def release_lock(lock: int, path: Path) -> None:
    """Remove the lock file, if it is still the one ``lock`` holds (never another sweep's), and let it go."""
    try:
        if holds(lock, path):
            os.unlink(path)
    except OSError:  # a folder that cannot be written: the lock file stays, harmless once let go
        pass
    finally:
        os.close(lock)


def continued_manifest(folder: Path, wanted: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """The manifest to keep: ``wanted`` for a new sweep, the recorded one (its runs' statuses refreshed
    later) for the same sweep run again; another sweep under this name is refused."""
    recorded = read_manifest(folder)
    if recorded is None:
        return wanted
    changed = differences(recorded, wanted, registry)
    if changed:
        raise RunError(
            f"{str(folder / MANIFEST)!r}: sweep {folder.name!r} was made with another recipe, grid or "
            f"seeds, and its runs are kept as they are: "
            + "; ".join(changed)
            + ". Give this sweep another --name, or the same recipe, --set, --grid and --seeds to "
            "continue that one"
        )
    return {**recorded, "launcher": wanted["launcher"], "runs": wanted["runs"]}


def status_of(path: Path) -> str:
    """``pending`` for a run not made yet, else the status its meta.json records."""
    if not path.exists():
        return PENDING
    meta = RunDir.open(path).read_meta()
    status = meta.get("status")
    if not isinstance(status, str):
        raise RunError(f"{str(path)!r}: meta.json records no status; move the run away to start it again")
    return status


def progress_note(path: Path) -> str:
    """``finished in 41.2 s``, ``failed: <error's first line>``: a run's outcome in a few words."""
    if not (path / "meta.json").is_file():
        return "did not start; see its log"
    meta = RunDir.open(path).read_meta()
    status, error, elapsed = meta.get("status"), meta.get("error"), meta.get("elapsed_s")
    note = f"{status} in {elapsed:.1f} s" if isinstance(elapsed, (int, float)) else str(status)
    return f"{note}: {str(error).splitlines()[0]}" if error and status != "finished" else note


def _record(folder: Path, manifest: dict[str, Any], statuses: dict[str, str]) -> None:
    for entry in manifest["runs"]:
        entry["status"] = statuses[entry["name"]]
    write_manifest(folder, manifest)
