"""A study's results as tables (:class:`TuneResult`, what ``ganlab.tune`` returns): each trial with its
parameters, how it ended, its objective and what it cost, and the budget pruning saved, read from the
study's database and its trials' run directories.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.errors import RunError
from ..compare.seed_groups import GroupedComparison
from ..report.core_sections import by_metric
from ..rundir.rundir import RunDir
from .study import RECHECK, RECORD, read_record

if TYPE_CHECKING:
    import pandas as pd

TRIAL_COLUMNS = ("trial", "run", "state", "status", "value", "steps", "total_steps", "elapsed_s")
"""The columns of the trials table before the parameters (one column per searched key)."""


def final_value(run_path: Path, objective: str) -> float | None:
    """The objective's last value in a run's evaluations (the one its end scored); None without one."""
    records = by_metric(RunDir.open(run_path).read_evaluations()).get(objective)
    return float(records[-1]["value"]) if records else None


def trials_frame(study: Any, keys: list[str]) -> pd.DataFrame:
    """One row per trial: its number, run directory, Optuna state (COMPLETE, PRUNED, FAIL, RUNNING), the
    run's status, the objective's value (the final one of a complete trial, the last reported of a pruned
    one), the steps it ran, the steps a full trial runs, its seconds, then each searched key's value."""
    import pandas as pd  # on first use: see ganlab.page.figures

    rows = []
    for trial in study.get_trials(deepcopy=False):
        value = trial.value
        if value is None and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        attrs = trial.user_attrs
        rows.append(
            {
                "trial": trial.number,
                "run": attrs.get("run"),
                "state": trial.state.name,
                "status": attrs.get("status"),
                "value": value,
                "steps": attrs.get("steps"),
                "total_steps": attrs.get("total_steps"),
                "elapsed_s": attrs.get("elapsed_s"),
                **{key: trial.params.get(key) for key in keys},
            }
        )
    return pd.DataFrame(rows, columns=[*TRIAL_COLUMNS, *keys])


def budget_of(study: Any) -> dict[str, Any]:
    """What the search cost: the steps its ended trials ran, the steps they would have run in full, the
    share pruning saved, and their seconds (``steps_run``, ``steps_full``, ``saved_share``, ``seconds``,
    ``trials``, ``pruned``)."""
    import optuna

    ended = [t for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.RUNNING]
    counted = [t for t in ended if isinstance(t.user_attrs.get("total_steps"), int)]
    run = sum(int(t.user_attrs.get("steps", 0)) for t in counted)
    full = sum(int(t.user_attrs["total_steps"]) for t in counted)
    return {
        "trials": len(ended),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in ended),
        "steps_run": run,
        "steps_full": full,
        "saved_share": round(1 - run / full, 4) if full else 0.0,
        "seconds": round(sum(float(t.user_attrs.get("elapsed_s", 0.0)) for t in counted), 1),
    }


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """A study's result (what ``ganlab.tune`` returns): its folder, the objective and its direction
    (``minimize``/``maximize``), ``trials`` (one row per trial: :func:`trials_frame`), ``recheck`` (the
    re-check's grouped comparison over fresh seeds: groups, runs and differences as DataFrames, and a
    statement), ``verdict`` (whether the winner's lead is outside the seed spread, in words), ``best``
    (the settings best over the seeds, by searched key) and ``budget`` (steps run against the steps
    full-length trials would have run, the share pruning saved, seconds)."""

    folder: Path
    objective: str
    direction: str
    trials: pd.DataFrame
    recheck: GroupedComparison
    verdict: str
    best: dict[str, Any]
    budget: dict[str, Any]


def study_result(folder: Path) -> TuneResult:
    """The result of the study in ``folder``, read from its record, database and re-check; a folder that
    is no finished study's is a RunError saying what is missing."""
    from ..compare.page import compare
    from ..compare.run_set import runs_in
    from .plan import require_optuna
    from .storage import open_study

    record = read_record(folder)
    if record is None:
        raise RunError(f"{str(folder)!r} holds no {RECORD}, so it is no study's folder")
    if record["recheck"] is None or record["budget"] is None:
        raise RunError(f"study {str(folder)!r} has not finished its search and re-check; run it again to finish it")
    require_optuna()
    study = open_study(folder, record)
    keys = list(record["space"])
    winner = record["recheck"]["winner"]
    best = {key: value for key, value in study.get_trials(deepcopy=False)[winner].params.items() if key in keys}
    return TuneResult(
        Path(folder),
        record["objective"],
        record["direction"],
        trials_frame(study, keys),
        compare(runs_in(Path(folder) / RECHECK)).grouped,
        record["recheck"]["text"],
        best,
        record["budget"],
    )
