"""A sweep from start to end: plan it, check every run before any starts, find where each stands, launch
what is left, and keep ``sweep.json`` up to date as runs end.

Running a sweep again is how it is continued: a finished run is left as it is, a diverged one too (it
would diverge again: same recipe, same seed), an interrupted, failed or killed one (``running`` with no
process behind it) is resumed as ``ganlab run --resume`` resumes it, and a run without a directory is
started. A sweep of the same name with another recipe, grid or seeds is refused, so no run is ever
mixed into a sweep it does not belong to.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable

from ..errors import GanlabError, RecipeError, RunError
from ..plugins.manager import Plugins
from ..recipes import tomlwrite
from ..recipes.recipe import Recipe, resolve
from ..recipes.tomlwrite import value_text
from ..rundir.atomic import atomic_write_text
from ..rundir.rundir import RunDir, exclusive_lock, safe_name
from ..training.assemble import build
from .launchers import LOGS, SweepTarget, Task, run_locally, run_with_submitit
from .manifest import MANIFEST, PENDING, differences, new_manifest, read_manifest, write_manifest
from .plan import GridAxis, PlannedRun, expand, seed_values
from .table import SweepFile, SweepSettings, read_sweep_file, sweep_definition

LOCK = ".sweep.lock"
BASE_RECIPE = "base-recipe.toml"
"""The base recipe the runs of a sweep given as a ``[sweep]`` table start from, in the sweep's folder."""
LEFT_AS_THEY_ARE = ("finished", "diverged")
"""Run statuses a sweep run again does not touch."""


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


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """A sweep as checked before anything is made: the recipe file, the base recipe with the shared
    overrides, the grid, the settings, and every run."""

    file: SweepFile
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
    every problem of the table, the options and the recipe at once as one RecipeError."""
    file = read_sweep_file(request.recipe)
    problems: list[str] = []
    try:
        axes, settings = sweep_definition(file, request.grid, request.options)
    except RecipeError as e:
        problems += e.problems
    try:
        base = resolve(file.base, plugins.registry, file.source, list(request.overrides))
    except RecipeError as e:
        problems += e.problems
    if problems:
        raise RecipeError(file.source, problems)
    seeds = seed_values(base.experiment.seed, settings.seeds, file.source)
    plan = SweepPlan(file, tuple(request.overrides), base, axes, settings, seeds, expand(axes, seeds))
    check_grid_values(plan, plugins)
    return plan


def run_sweep(request: SweepRequest, plugins: Plugins, echo: Callable[[str], None]) -> Path:
    """Run (or continue) the sweep; its folder, once every run has finished. A run that did not finish is
    a GanlabError naming it, raised after every other run has had its turn."""
    plan = plan_sweep(request, plugins)
    runs, settings = plan.runs, plan.settings
    folder = request.out / safe_name(settings.name or f"{plan.base.experiment.name}-sweep")
    wanted = new_manifest(folder.name, plan.file.source, list(request.overrides), plan.base.to_dict(), plan.axes,
                          plan.seeds, settings.launcher, runs)
    lock = hold_sweep_folder(folder)
    try:
        manifest = continued_manifest(folder, wanted)
        statuses = {run.name: status_of(folder / run.name) for run in runs}
        to_start = [run for run in runs if statuses[run.name] == PENDING]
        check_runs(plan, to_start, plugins)
        tasks = [Task(run, resume=statuses[run.name] != PENDING) for run in runs
                 if statuses[run.name] not in LEFT_AS_THEY_ARE]
        _record(folder, manifest, statuses)
        left = len(runs) - len(tasks)
        echo(f"sweep {folder.name}: {len(runs)} runs; {left} left as they are, {len(tasks) - len(to_start)} "
             f"to resume, {len(to_start)} to start")
        ended = 0

        def on_end(task: Task) -> None:
            nonlocal ended
            ended += 1
            statuses[task.run.name] = status_of(folder / task.run.name)
            _record(folder, manifest, statuses)
            echo(f"[{ended}/{len(tasks)}] {task.run.name}: {progress_note(folder / task.run.name)}")

        target = SweepTarget(recipe_of_runs(plan, folder), tuple(request.overrides), folder.resolve())
        try:
            if settings.launcher == "submitit":
                run_with_submitit(tasks, target, settings.slurm, on_end)
            else:
                run_locally(tasks, target, settings.jobs, on_end, settings.threads)
        except KeyboardInterrupt:
            stopped = [name for name, status in statuses.items() if status == "interrupted"]
            echo(f"sweep {folder.name} stopped; {len(stopped)} runs interrupted; run the same command again "
                 "to resume them")
            raise
    finally:
        os.close(lock)
    unfinished = {name: status for name, status in statuses.items() if status != "finished"}
    if unfinished:
        listed = ", ".join(f"{name} ({status})" for name, status in unfinished.items())
        raise GanlabError(f"sweep {str(folder)!r}: {len(unfinished)} of {len(runs)} runs did not finish: {listed}; "
                          f"their meta.json and {LOGS}/<run>.log say why; the same command again resumes the "
                          "interrupted and failed ones")
    return folder


def recipe_of_runs(plan: SweepPlan, folder: Path) -> Path:
    """The recipe file the runs start from: the one given, or, where it holds a ``[sweep]`` table (which
    ``ganlab run`` refuses: a run is one run), that file without the table, written to the sweep's
    folder as :data:`BASE_RECIPE`."""
    if plan.file.table is None:
        return Path(plan.file.source).resolve()
    path = folder / BASE_RECIPE
    try:
        atomic_write_text(path, f"# {plan.file.source} without its [sweep] table, written by ganlab sweep\n"
                                + tomlwrite.dumps(plan.file.base))
    except OSError as e:
        raise RunError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
    return path.resolve()


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
    before any starts, so a combination the recipe cannot train stops the sweep while nothing ran."""
    for run in runs:
        try:
            build(plan.recipe(run.overrides, plugins))
        except RecipeError as e:
            raise RecipeError(e.source, [f"run {run.name} ({' '.join(run.overrides)}): {p}"
                                         for p in e.problems]) from None


def hold_sweep_folder(folder: Path) -> int:
    """Create the sweep's folder if need be and lock it (the lock's file descriptor): two ``ganlab sweep``
    of the same sweep at once would start the same runs twice. A folder with files but no sweep.json is
    someone else's and refused."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        entries = {entry.name for entry in folder.iterdir()}
    except OSError as e:
        raise RunError(f"cannot create the sweep's folder {str(folder)!r}: {e.strerror or e}") from None
    if entries - {LOCK} and MANIFEST not in entries:
        raise RunError(f"{str(folder)!r} holds files but no {MANIFEST}, so it is no sweep's folder; give the "
                       "sweep another --name or --out")
    return exclusive_lock(folder / LOCK, f"sweep {str(folder)!r}", busy="run")


def continued_manifest(folder: Path, wanted: dict[str, Any]) -> dict[str, Any]:
    """The manifest to keep: ``wanted`` for a new sweep, the recorded one (its runs' statuses refreshed
    later) for the same sweep run again; another sweep under this name is refused."""
    recorded = read_manifest(folder)
    if recorded is None:
        return wanted
    changed = differences(recorded, wanted)
    if changed:
        raise RunError(f"{str(folder / MANIFEST)!r}: sweep {folder.name!r} was made with another recipe, grid or "
                       f"seeds, and its runs are kept as they are: " + "; ".join(changed)
                       + ". Give this sweep another --name, or the same recipe, --set, --grid and --seeds to "
                       "continue that one")
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
