"""The winner's-curse guard: the study's best settings re-run over fresh seeds, as a sweep in the study's
folder (``recheck/``, a sweep folder like any: ``ganlab compare runs/<study>/recheck``), and judged by the
seed spread, not by the best single trial.

The best ``recheck_top`` complete trials (distinct settings) are run with seeds ``experiment.seed + 1``
to ``experiment.seed + recheck_seeds`` (the trials ran with ``experiment.seed``: a trial's own seed is
the one it was lucky with). The result is compare's grouped comparison, with its bootstrap intervals; the
verdict says whether the best group's lead over the runner-up is outside the seed spread.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..common.errors import GanlabError, RunError
from ..common.tomlwrite import value_text
from ..compare.page import Comparison, compare
from ..compare.run_set import runs_in
from ..compare.seed_groups import OUTSIDE, WITHIN, groups_text
from ..loading.manager import Plugins
from ..sweeps.manifest import read_manifest
from ..sweeps.sweep import SweepRequest, run_sweep
from .plan import StudyPlan
from .study import BASE_RECIPE, RECHECK, trial_name, write_record

SLURM_PARTS = ("partition", "time", "gpus", "cpus", "mem")
"""The ``slurm_*`` settings a study passes on to its re-check sweep."""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The re-check's answer: the best settings over the seeds (``winner``, a trial number), the runner-up,
    the objective's mean of each, the difference of the means with its interval, and the verdict words
    (outside the seed spread, within it, spread unknown)."""

    winner: int
    runner_up: int
    winner_mean: float
    runner_up_mean: float
    difference: float
    low: float
    high: float
    verdict: str
    text: str


def top_trials(study: Any, count: int, keys: list[str]) -> list[Any]:
    """The best ``count`` complete trials with distinct settings, best first."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    complete.sort(key=lambda t: t.value, reverse=study.direction == optuna.study.StudyDirection.MAXIMIZE)
    chosen, seen = [], set()
    for trial in complete:
        settings = tuple(value_text(trial.params[key]) for key in keys)
        if settings not in seen:
            seen.add(settings)
            chosen.append(trial)
    return chosen[:count]


def recheck_request(plan: StudyPlan, folder: Path, trials: list[Any], record: dict[str, Any]) -> SweepRequest:
    """The sweep of the chosen trials' settings over the fresh seeds, in ``folder/recheck``."""
    keys = [dimension.key for dimension in plan.dimensions]
    values = {key: list(dict.fromkeys(trial.params[key] for trial in trials)) for key in keys}
    grid = tuple(f"{key}={value_text(values[key])}" for key in keys)
    first_seed = plan.base.experiment.seed + 1
    settings = plan.settings
    options: dict[str, Any] = {"name": RECHECK, "seeds": record["recheck_seeds"], "launcher": settings.launcher}
    if settings.launcher == "local":
        options.update(jobs=settings.jobs, threads=settings.threads)
    else:
        options.update(
            submitit_cluster=settings.submitit_cluster,
            **{f"slurm_{part}": getattr(settings, f"slurm_{part}") for part in SLURM_PARTS},
        )
    return SweepRequest(
        folder / BASE_RECIPE,
        grid,
        (*plan.overrides, f"experiment.seed={first_seed}"),
        folder,
        {key: value for key, value in options.items() if value is not None},
        tuple({key: trial.params[key] for key in keys} for trial in trials),
    )


def run_recheck(
    plan: StudyPlan, folder: Path, record: dict[str, Any], study: Any, plugins: Plugins, echo: Callable[[str], None]
) -> Verdict:
    """Re-run the best settings over fresh seeds (or continue that sweep), record which trials it
    re-checked and its verdict in study.json, and print the grouped comparison and the verdict."""
    keys = [dimension.key for dimension in plan.dimensions]
    trials = top_trials(study, record["recheck_top"], keys)
    if len(trials) < 2:
        raise GanlabError(
            f"study {folder.name!r}: {len(trials)} trial(s) with distinct settings completed, and the re-check "
            "compares at least 2; give the study more trials (--trials) and run it again"
        )
    numbers = [trial.number for trial in trials]
    earlier = (record.get("recheck") or {}).get("trials")
    if earlier is not None and earlier != numbers and (folder / RECHECK).exists():
        raise RunError(
            f"study {folder.name!r}: its re-check in {str(folder / RECHECK)!r} ran trials "
            f"{', '.join(trial_name(n) for n in earlier)}, and the best are now "
            f"{', '.join(trial_name(n) for n in numbers)}: move that folder away (its runs are kept as they are) "
            "and run the study again to re-check the new best"
        )
    echo(f"re-check: trials {', '.join(trial_name(n) for n in numbers)} over {record['recheck_seeds']} fresh seeds")
    run_sweep(recheck_request(plan, folder, trials, record), plugins, echo)
    comparison = compare(runs_in(folder / RECHECK))
    verdict = judge(comparison, folder, {t.number: {key: t.params[key] for key in keys} for t in trials}, record)
    record["recheck"] = {"folder": RECHECK, "trials": numbers, **dataclasses.asdict(verdict)}
    write_record(folder, record)
    echo(groups_text(comparison.groups, comparison.grouped, comparison.mismatches))
    echo(verdict.text)
    return verdict


def trial_of_runs(folder: Path, settings_of_trials: dict[int, dict[str, Any]]) -> dict[str, int]:
    """Each re-check run's trial: the one whose settings it ran, by the sweep manifest's record of them."""
    manifest = read_manifest(folder / RECHECK)
    found = {}
    for run in manifest["runs"] if manifest else []:
        for number, settings in settings_of_trials.items():
            if all(value_text(run["settings"].get(key)) == value_text(value) for key, value in settings.items()):
                found[run["name"]] = number
    return found


def judge(
    comparison: Comparison, folder: Path, settings_of_trials: dict[int, dict[str, Any]], record: dict[str, Any]
) -> Verdict:
    """The best group by the objective's mean over the seeds, the runner-up, and whether the gap between
    them is outside the seed spread (compare's bootstrap interval of the difference of the means).
    ``settings_of_trials``: the re-checked trials' settings, by trial number, the search's best first."""
    objective, higher = record["objective"], record["direction"] == "maximize"
    runs = comparison.grouped.runs
    groups = comparison.grouped.groups
    rows = groups[groups["quantity"] == objective] if not groups.empty else groups
    if rows.empty or rows["mean"].isna().all():
        raise GanlabError(f"study {folder.name!r}: no re-check run logged {objective!r}; see {folder / RECHECK}")
    ranked = rows.sort_values("mean", ascending=not higher, na_position="last")
    best, second = ranked.iloc[0], ranked.iloc[1]
    by_run = trial_of_runs(folder, settings_of_trials)
    group_trial = {row.group: by_run.get(Path(row.path).name, -1) for row in runs.itertuples()}
    differences = comparison.grouped.differences
    pair = differences[
        (differences["quantity"] == objective)
        & (
            ((differences["group_a"] == best.group) & (differences["group_b"] == second.group))
            | ((differences["group_a"] == second.group) & (differences["group_b"] == best.group))
        )
    ].iloc[0]
    sign = 1.0 if pair.group_b == best.group else -1.0
    difference, low, high = sorted_interval(sign, pair.difference, pair.low, pair.high)
    winner, runner_up = group_trial[best.group], group_trial[second.group]
    search_best = next(iter(settings_of_trials))
    text = verdict_text(objective, pair.verdict, best, second, winner, runner_up, search_best, (difference, low, high))
    return Verdict(
        winner, runner_up, float(best["mean"]), float(second["mean"]), difference, low, high, pair.verdict, text
    )


def sorted_interval(sign: float, value: float, low: float, high: float) -> tuple[float, float, float]:
    """The winner minus the runner-up, from a difference taken either way round."""
    if sign > 0:
        return float(value), float(low), float(high)
    return -float(value), -float(high), -float(low)


def verdict_text(
    objective: str,
    verdict: str,
    best: Any,
    second: Any,
    winner: int,
    runner_up: int,
    search_best: int,
    gap: tuple[float, float, float],
) -> str:
    difference, low, high = gap
    lines = [
        f"Re-check winner: {trial_name(winner)}'s settings, {objective} {best['mean']:.6g} over {int(best['n'])} "
        f"seeds; runner-up {trial_name(runner_up)}'s, {second['mean']:.6g} over {int(second['n'])} seeds."
    ]
    if verdict == OUTSIDE:
        lines.append(
            f"The winner's lead ({difference:+.4g}, 95% interval [{low:+.4g}, {high:+.4g}]) is OUTSIDE the seed "
            "spread: the seeds alone do not explain it."
        )
    elif verdict == WITHIN:
        lines.append(
            f"The winner's lead ({difference:+.4g}, 95% interval [{low:+.4g}, {high:+.4g}]) is WITHIN the seed "
            "spread: the seeds alone could make this gap, so the search has not told these settings apart."
        )
    else:
        lines.append(f"The winner's lead ({difference:+.4g}) cannot be judged: {verdict}.")
    if winner != search_best and not math.isnan(difference):
        lines.append(
            f"The search's best single trial was {trial_name(search_best)}; over fresh seeds another setting "
            "did better (the winner's curse)."
        )
    return "\n".join(lines)
