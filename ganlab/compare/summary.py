"""The comparison at a glance, one column per run: how far each got, how fast, where its numbers ended.

The same table is printed by ``ganlab compare`` and heads the page. A metric measured differently in
different runs is marked with a dagger, and the notes under the table say how.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..contracts.scores import ScoreKind
from ..page import html as h
from ..report.core_sections import by_metric, duration, final_and_best, last_epoch_means, value_at_step
from ..rundir.records import METRIC_LABELS
from .compared_run import ComparedRun
from .metric_protocols import ProtocolMismatch, shared_metrics

if TYPE_CHECKING:
    import pandas as pd

NOT_COMPARABLE = " \u2020"


def summary_frame(runs: Sequence[ComparedRun], mismatches: dict[str, ProtocolMismatch]) -> pd.DataFrame:
    """Quantities as rows, runs as columns (named as on the page), every cell text."""
    import pandas as pd  # on first use: see ganlab.page.figures

    rows: dict[str, list[str]] = {
        "status": [run.status for run in runs],
        "steps": [_of(run.meta.get("steps"), run.meta.get("total_steps")) for run in runs],
        "epochs": [_of(run.meta.get("epochs_completed"), run.meta.get("epochs")) for run in runs],
        "duration": [duration(run.meta.get("elapsed_s")) for run in runs],
        "images/s": [h.format_value(run.meta.get("images_per_s")) or "unknown" for run in runs],
    }
    means = [last_epoch_means(run.metrics.to_dict("records"))[2] for run in runs]
    for key, label in METRIC_LABELS.items():
        rows[f"{label}, last epoch"] = [
            _number(m[key]) if not run.metrics.empty else "-" for run, m in zip(runs, means)
        ]
    rows["D(x), D(G(z)) are"] = [ScoreKind.from_meta(run.meta).name for run in runs]
    for metric in shared_metrics([run.evaluations for run in runs]):
        mark = NOT_COMPARABLE if metric in mismatches else ""
        ends = [final_and_best(by_metric(run.evaluations)[metric]) for run in runs]
        rows[f"{metric}, final"] = [value_at_step(final) + mark for final, _ in ends]
        rows[f"{metric}, best"] = [value_at_step(best) + mark if best else "-" for _, best in ends]
    rows["health"] = [health(run.health_flags()) for run in runs]
    return pd.DataFrame(rows, index=[run.name for run in runs]).T


def _of(done: Any, total: Any) -> str:
    return f"{done if done is not None else '?'} of {total if total is not None else '?'}"


def _number(value: float | None) -> str:
    return "not finite" if value is None else h.format_value(value)


def health(flags: list[dict[str, Any]] | None) -> str:
    if flags is None:
        return "not checked"
    if not flags:
        return "ok"
    return "; ".join(f"{flag.get('check', 'problem')} from step {flag.get('step', '?')}" for flag in flags)


def terminal_text(summary: pd.DataFrame, runs: Sequence[ComparedRun], mismatches: dict[str, ProtocolMismatch]) -> str:
    """The table as the terminal shows it, with a note under it for every metric that is not comparable."""
    import pandas as pd  # on first use: see ganlab.page.figures

    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        text = summary.to_string()
    names = [run.name for run in runs]
    notes = [
        f"{NOT_COMPARABLE.strip()} {m.metric} is not comparable between these runs: {m.describe(names)}"
        for m in mismatches.values()
    ]
    return "\n".join([text, *notes])
