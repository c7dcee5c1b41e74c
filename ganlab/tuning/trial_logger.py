"""The ``tune-trial`` logger: what makes an ordinary run a trial of a study. ``ganlab tune`` adds it to
every trial's recipe (``loggers[+]={name="tune-trial", study="<the study's folder>"}``); it reports each
evaluation of the study's objective to the trial's Optuna trial (by epoch) and asks the study's pruner,
and when the pruner says stop it ends the run early with status ``pruned``
(:meth:`ganlab.RunView.end_early`): a checkpoint is written, the run is reported and comparable, and it
can be resumed.

It only observes and reports; ``ganlab tune`` reads how each trial ended from its run directory and tells
the study. A trial resumed after a crash finds its Optuna trial again by its run directory's name; a run
whose trial is no longer running in the study (resumed by hand after the study ended) reports nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..common.config import param
from ..common.errors import ConfigError
from ..contracts.engine import BuildContext, RunView
from ..contracts.loggers import Logger
from ..registry.registry import component
from .storage import OPTUNA_MISSING, open_storage, open_study
from .study import TRIAL_PREFIX, read_record

PRUNED = "pruned"
"""The status of a run the pruner stopped."""
TRIAL_LOGGER = "tune-trial"


@dataclasses.dataclass
class TrialLoggerConfig:
    study: str = param("", "the study's folder (study.json and study.db), as ganlab tune sets it")


class TrialLogger(Logger):
    def __init__(self, config: TrialLoggerConfig):
        self.folder = Path(config.study)
        self.run: RunView | None = None
        self.trial: Any = None
        self.storage: Any = None
        self.objective = ""

    def start(self, run: RunView) -> None:
        """Find the run's Optuna trial: the number its directory is named by (``trial-0007``), in the study
        of the folder the config names; none when it is not running there."""
        import optuna

        record = read_record(self.folder)
        if record is None:
            raise ConfigError("study", f"{str(self.folder)!r} holds no study.json")
        self.run, self.objective, self.pruner = run, record["objective"], record["pruner"]
        self.storage = open_storage(self.folder)
        study = open_study(self.folder, record, storage=self.storage)
        number = run.run_dir.name.removeprefix(TRIAL_PREFIX)
        self.trial = None
        if number.isdigit():
            study_id = self.storage.get_study_id_from_name(record["name"])
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, int(number))
            if self.storage.get_trial(trial_id).state == optuna.trial.TrialState.RUNNING:
                self.trial, self.trial_id = optuna.trial.Trial(study, trial_id), trial_id

    def log_steps(self, records: list[dict[str, float]]) -> None:
        """Steps are not what the study judges: its objective is an evaluation."""

    def log_evaluation(self, record: dict[str, Any]) -> None:
        if self.trial is None or record.get("metric") != self.objective:
            return
        epoch, value = int(record.get("epoch", 0)), float(record["value"])
        if epoch in self.storage.get_trial(self.trial_id).intermediate_values:
            return  # a resumed trial scores an epoch it reported before the crash again: once is enough
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            self.run.end_early(
                PRUNED,
                f"the {self.pruner} pruner of study {self.folder.name!r} stopped it at epoch {epoch}: "
                f"{self.objective} = {value:.6g} is unpromising beside the other trials at that epoch",
            )


@component(
    "logger",
    TRIAL_LOGGER,
    config=TrialLoggerConfig,
    help="reports a trial's objective to its ganlab tune study and ends it when the pruner says (added by tune)",
)
def trial_logger(config: TrialLoggerConfig, context: BuildContext) -> TrialLogger:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError("name", OPTUNA_MISSING) from None
    if not config.study:
        raise ConfigError("study", "the study's folder is required (ganlab tune sets it)")
    return TrialLogger(config)
