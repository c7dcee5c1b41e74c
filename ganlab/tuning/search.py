"""A study from start to end: plan and check it, hold its folder, run the search through the sweeps'
launchers, tell the study how each trial ended, re-check the best settings over fresh seeds, and write
the study report.

Running a study again is how it is continued. The trials the database holds as finished (complete,
pruned, failed) are kept as they are; a trial the database still holds as running (its process died, or
the study was stopped) is resumed from its run directory's checkpoint under the same Optuna trial, or
started if it never made its directory, so no trial is lost or repeated. Then new trials are asked for
until the budget is spent: ``trials`` counts every trial of the study, ``timeout`` this command's wall
time. A study whose search is done still gets its re-check, and its report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..common import tomlwrite
from ..common.atomic import atomic_write_text
from ..common.errors import RunError, warn
from ..common.tomlwrite import value_text
from ..loading.manager import Plugins
from ..rundir.rundir import RunDir, safe_name
from ..sweeps.launchers import LocalLauncher, SubmititLauncher, SweepTarget, Task
from ..sweeps.manifest import PENDING
from ..sweeps.plan import PlannedRun
from ..sweeps.sweep import progress_note, status_of
from .folder import continued_record, held_study_folder, new_record
from .plan import StudyPlan, TuneRequest, plan_study
from .recheck import run_recheck
from .report import write_study_report
from .results import budget_of, final_value
from .storage import open_storage, open_study
from .study import BASE_RECIPE, DATABASE, RECORD, TRIAL_PREFIX, trial_name, write_record
from .trial_logger import PRUNED, TRIAL_LOGGER

RESUMED = ("running", "interrupted")
"""Statuses of a trial's run that the study resumes: its process died, or a stop signal ended it."""


def run_study(request: TuneRequest, plugins: Plugins, echo: Callable[[str], None]) -> Path:
    """Run (or continue) the study; its folder, once the search and the re-check are done."""
    plan = plan_study(request, plugins)
    folder = (request.out / safe_name(plan.settings.name or f"{plan.base.experiment.name}-tune")).absolute()
    with held_study_folder(folder):
        record = continued_record(folder, new_record(folder.name, plan), plugins.registry)
        launcher = ready_launcher(plan, folder)
        write_record(folder, record)
        storage = open_storage(folder, create=True)
        study = open_study(folder, record, sampling=True, storage=storage)
        refuse_trials_the_database_lacks(folder, study)
        Search(plan, folder, study, storage, echo).run(launcher)
        run_recheck(plan, folder, record, study, plugins, echo)
        record["budget"] = budget_of(study)
        write_record(folder, record)
        try:
            write_study_report(folder, plugins)
        except Exception as e:  # the report is derived and rebuildable; the study's outcome is recorded
            warn(
                f"the study report of {str(folder)!r} could not be written ({type(e).__name__}: {e}); the study "
                f"is recorded; try again with: ganlab report {folder}"
            )
    return folder


def refuse_trials_the_database_lacks(folder: Path, study: Any) -> None:
    """Refuse to continue a study whose folder holds trial run directories its database does not know (the
    database was deleted, emptied or replaced): its new trials would be numbered as those, and each would be
    told the old run's value under parameters it never ran with."""
    known = {trial_name(trial.number) for trial in study.get_trials(deepcopy=False)}
    unknown = sorted(p.name for p in folder.glob(f"{TRIAL_PREFIX}*") if p.is_dir() and p.name not in known)
    if unknown:
        raise RunError(
            f"{str(folder / DATABASE)!r} holds {len(known)} trial(s), but the study's folder also has "
            f"{', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''}, which it does not know: the database "
            f"was lost or replaced (or {RECORD} names another study), and the study cannot continue without it; give "
            "the study another --name"
        )


def ready_launcher(plan: StudyPlan, folder: Path) -> LocalLauncher | SubmititLauncher:
    """The launcher the settings ask for, ready to run trials, and the base recipe the trials start from
    written; a launcher that cannot run here is refused first, before anything is written."""
    settings = plan.settings
    logger = f"loggers[+]={{name = {value_text(TRIAL_LOGGER)}, study = {value_text(str(folder))}}}"
    target = SweepTarget(folder / BASE_RECIPE, (*plan.overrides, logger), folder)
    if settings.launcher == "submitit":
        launcher: LocalLauncher | SubmititLauncher = SubmititLauncher(target, settings.slurm, settings.jobs)
    else:
        launcher = LocalLauncher(target, settings.jobs, settings.threads)
    try:
        atomic_write_text(
            target.recipe,
            f"# {plan.file.source} without its [tune] table, written by ganlab tune\n"
            + tomlwrite.dumps(plan.file.base),
        )
    except OSError as e:
        raise RunError(f"cannot write {str(target.recipe)!r}: {e.strerror or e}") from None
    return launcher


class Search:
    """The search of one ``ganlab tune``: the trials to resume, then new ones while the budget lasts, each
    told to the study as its run ends."""

    def __init__(self, plan: StudyPlan, folder: Path, study: Any, storage: Any, echo: Callable[[str], None]):
        self.plan, self.folder, self.study, self.storage, self.echo = plan, folder, study, storage, echo
        self.started = time.monotonic()
        self.study_id = storage.get_study_id_from_name(study.study_name)

    def run(self, launcher: LocalLauncher | SubmititLauncher) -> None:
        import optuna

        running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        done = len(self.study.get_trials(deepcopy=False)) - len(running)
        self.echo(
            f"study {self.folder.name}: {done} trials done, {len(running)} to resume; "
            f"{self.budget_text()}; objective {self.plan.settings.objective} ({self.plan.direction})"
        )
        try:
            launcher.run(self.tasks(running), self.on_end)
        except KeyboardInterrupt:
            self.echo(f"study {self.folder.name} stopped; run the same command again to continue it")
            raise

    def budget_text(self) -> str:
        settings = self.plan.settings
        parts = [f"{settings.trials} trials in all"] if settings.trials else []
        parts += [f"{settings.timeout} s of new trials"] if settings.timeout else []
        return " and ".join(parts)

    def tasks(self, running: list[Any]) -> Iterator[Task]:
        """The trials to resume, then a new trial each time a place frees up, while the budget lasts."""
        for trial in running:
            name = trial_name(trial.number)
            status = status_of(self.folder / name)
            if status == PENDING or status in RESUMED:
                yield Task(self.planned(name, trial.params), resume=status != PENDING)
            else:  # it ended while no ganlab tune was there to hear it
                self.tell(trial.number, name)
        distributions = {dimension.key: dimension.distribution() for dimension in self.plan.dimensions}
        while self.budget_left():
            trial = self.study.ask(distributions)
            name = trial_name(trial.number)
            trial.set_user_attr("run", name)
            yield Task(self.planned(name, trial.params), resume=False)

    def budget_left(self) -> bool:
        settings = self.plan.settings
        if settings.timeout is not None and time.monotonic() - self.started >= settings.timeout:
            return False
        return settings.trials is None or len(self.study.get_trials(deepcopy=False)) < settings.trials

    def planned(self, name: str, params: dict[str, Any]) -> PlannedRun:
        settings = {dimension.key: params[dimension.key] for dimension in self.plan.dimensions}
        return PlannedRun(name, settings, self.plan.base.experiment.seed)

    def on_end(self, task: Task) -> None:
        name = task.run.name
        number = int(name.removeprefix(TRIAL_PREFIX))
        status = status_of(self.folder / name)
        if status not in RESUMED:
            self.tell(number, name)
        self.echo(f"{name}: {progress_note(self.folder / name)}{self.value_note(number)}")

    def tell(self, number: int, name: str) -> None:
        """Tell the study how trial ``number`` ended, from its run directory: finished with the objective's
        last value, pruned, or failed (diverged, failed, or finished without a value); what it cost
        (steps, the steps a full trial takes, seconds) is kept with it."""
        import optuna

        path = self.folder / name
        status = status_of(path)
        meta = RunDir.open(path).read_meta() if status != PENDING else {}
        trial = optuna.trial.Trial(
            self.study, self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        )
        for key in ("steps", "total_steps", "elapsed_s"):
            if isinstance(meta.get(key), (int, float)):
                trial.set_user_attr(key, meta[key])
        trial.set_user_attr("status", status)
        value = final_value(path, self.plan.settings.objective) if status == "finished" else None
        state = optuna.trial.TrialState
        if value is not None and math.isfinite(value):
            self.study.tell(number, value, skip_if_finished=True)
        elif status == PRUNED:
            self.study.tell(number, state=state.PRUNED, skip_if_finished=True)
        else:
            self.study.tell(number, state=state.FAIL, skip_if_finished=True)

    def value_note(self, number: int) -> str:
        import optuna

        trial = self.study.get_trials(deepcopy=False)[number]
        if trial.state != optuna.trial.TrialState.COMPLETE:
            return ""
        note = f"; {self.plan.settings.objective} = {trial.value:.6g}"
        return note + (" (best so far)" if self.study.best_trial.number == number else "")
