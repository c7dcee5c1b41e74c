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
import fcntl
import os
from pathlib import Path
from typing import Any, Callable

from ..errors import GanlabError, RecipeError, RunError
from ..plugins.manager import Plugins
from ..recipes.recipe import Recipe, load_recipe
from ..recipes.tomlwrite import value_text
from ..rundir.rundir import RunDir, safe_name
from ..training.assemble import build
from .launchers import LOGS, SlurmOptions, SweepTarget, Task, run_locally, run_with_submitit
from .manifest import MANIFEST, PENDING, differences, new_manifest, read_manifest, write_manifest
from .plan import GridAxis, PlannedRun, expand, parse_grid, seed_values

LAUNCHERS = ("local", "submitit")
LOCK = ".sweep.lock"
LEFT_AS_THEY_ARE = ("finished", "diverged")
"""Run statuses a sweep run again does not touch."""


@dataclasses.dataclass(frozen=True)
class SweepRequest:
    """What ``ganlab sweep`` was asked: the recipe, ``--grid``, ``--seeds``, ``--set``, where and how."""

    recipe: Path
    grid: tuple[str, ...] = ()
    seeds: int = 1
    overrides: tuple[str, ...] = ()
    out: Path = Path("runs")
    name: str | None = None
    jobs: int = 1
    threads: int | None = None
    launcher: str = "local"
    slurm: SlurmOptions = SlurmOptions()


def run_sweep(request: SweepRequest, plugins: Plugins, echo: Callable[[str], None]) -> Path:
    """Run (or continue) the sweep; its folder, once every run has finished. A run that did not finish is
    a GanlabError naming it, raised after every other run has had its turn."""
    source = str(request.recipe)
    base = load_recipe(request.recipe, plugins.registry, list(request.overrides))
    axes = parse_grid(request.grid, source)
    seeds = seed_values(base.experiment.seed, request.seeds, source)
    runs = expand(axes, seeds)
    check_grid_values(request, axes, plugins)
    folder = request.out / safe_name(request.name or f"{base.experiment.name}-sweep")
    wanted = new_manifest(folder.name, source, list(request.overrides), base.to_dict(), axes, seeds,
                          request.launcher, runs)
    lock = hold_sweep_folder(folder)
    try:
        manifest = continued_manifest(folder, wanted)
        statuses = {run.name: status_of(folder / run.name) for run in runs}
        to_start = [run for run in runs if statuses[run.name] == PENDING]
        check_runs(request, to_start, plugins)
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

        target = SweepTarget(request.recipe.resolve(), tuple(request.overrides), folder.resolve())
        try:
            if request.launcher == "submitit":
                run_with_submitit(tasks, target, request.slurm, on_end)
            else:
                run_locally(tasks, target, request.jobs, on_end, request.threads)
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


def check_grid_values(request: SweepRequest, axes: list[GridAxis], plugins: Plugins) -> None:
    """Each grid value on its own against the recipe: a RecipeError names every ``--grid KEY=VALUE``
    the recipe does not take, and why."""
    problems: list[str] = []
    for axis in axes:
        for value in axis.values:
            setting = f"{axis.key}={value_text(value)}"
            try:
                load_recipe(request.recipe, plugins.registry, [*request.overrides, setting])
            except RecipeError as e:
                problems += [f"--grid {setting}: {p}" for p in e.problems if f"--grid {setting}: {p}" not in problems]
    if problems:
        raise RecipeError(str(request.recipe), problems)


def check_runs(request: SweepRequest, runs: list[PlannedRun], plugins: Plugins) -> None:
    """Every run about to start through the one check pass ``ganlab run`` makes (``assemble.build``),
    before any starts, so a combination the recipe cannot train stops the sweep while nothing ran."""
    for run in runs:
        try:
            build(run_recipe(request, run, plugins))
        except RecipeError as e:
            raise RecipeError(e.source, [f"run {run.name} ({' '.join(run.overrides)}): {p}"
                                         for p in e.problems]) from None


def run_recipe(request: SweepRequest, run: PlannedRun, plugins: Plugins) -> Recipe:
    return load_recipe(request.recipe, plugins.registry, [*request.overrides, *run.overrides])


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
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RunError(f"cannot write in the sweep's folder {str(folder)!r}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunError(f"sweep {str(folder)!r} is being run by another ganlab process") from None
    return fd


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
