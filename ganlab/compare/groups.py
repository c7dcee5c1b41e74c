"""The comparison page's sections for runs grouped by setting (:mod:`.seed_groups`): the group table with
the statement, and the training curves and metrics as each group's mean with a band from its lowest to
its highest seed. Used in place of the per-run curves when some group holds more than one run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..contracts.engine import ReportSection
from ..evaluators.series import auto_window, smooth
from ..page import html as h
from ..page.figures import figure_image, plot
from ..report.core_sections import by_metric
from ..rundir.records import METRIC_LABELS
from .metric_protocols import ProtocolMismatch
from .sections import run_legend, swatch
from .seed_groups import HOW_TO_READ, GroupedComparison, SeedGroup, group_table

if TYPE_CHECKING:
    import pandas as pd

BAND_ALPHA = 0.2


def groups_section(
    groups: Sequence[SeedGroup], grouped: GroupedComparison, mismatches: dict[str, ProtocolMismatch]
) -> ReportSection:
    """The group table and the statement; runs that are each a group of their own get the statement only
    (the overview's table already has their numbers)."""
    if all(len(group.runs) == 1 for group in groups):
        return ReportSection("Seed groups", h.paragraph(grouped.statement), order=5)
    members = "".join(
        f"<li>{swatch(group)}: {h.escape(', '.join(run.name for run in group.runs))}</li>" for group in groups
    )
    body = (
        h.paragraph(
            "Runs whose resolved recipes differ only in experiment.seed (and experiment.name) form "
            "a group; each group is named by the settings that set it apart."
        )
        + f"<ul>{members}</ul>"
        + h.table(group_table(groups, grouped, mismatches).reset_index(names=""))
        + h.paragraph(HOW_TO_READ, "note")
        + h.preformatted(grouped.statement)
    )
    return ReportSection("Seed groups", body, order=5)


def group_curve(group: SeedGroup, key: str) -> pd.DataFrame:
    """The group's smoothed ``key`` per step over its runs: epoch (training progress), mean, low, high."""
    import pandas as pd  # on first use: see ganlab.page.figures

    curves = [
        pd.DataFrame(
            {
                "step": run.metrics["step"],
                "epoch": run.epochs(),
                "value": smooth(run.metrics[key], auto_window(len(run.metrics))),
            }
        )
        for run in group.runs
        if not run.metrics.empty
    ]
    joined = pd.concat(curves).groupby("step")
    return pd.DataFrame(
        {
            "epoch": joined["epoch"].first(),
            "mean": joined["value"].mean(),
            "low": joined["value"].min(),
            "high": joined["value"].max(),
        }
    )


def group_curves_section(groups: Sequence[SeedGroup]) -> ReportSection:
    logged = [group for group in groups if any(not run.metrics.empty for run in group.runs)]
    if not logged:
        return ReportSection("Training curves", h.paragraph("No run logged a training step.", "note"), order=20)
    with plot(width=10.0, height=6.4, nrows=2, ncols=2, squeeze=False, sharex=True) as (fig, axes):
        for ax, (key, label) in zip(axes.flat, METRIC_LABELS.items()):
            for group in logged:
                curve = group_curve(group, key)
                ax.plot(curve["epoch"], curve["mean"], color=group.color, linewidth=1.6)
                ax.fill_between(
                    curve["epoch"], curve["low"], curve["high"], color=group.color, alpha=BAND_ALPHA, linewidth=0
                )
            ax.set_title(label)
        for ax in axes[-1]:
            ax.set_xlabel("epoch")
        run_legend(fig, groups)
        chart = figure_image(fig, "G loss, D loss, D(x) and D(G(z)) of every group over epochs")
    body = h.figure(
        chart,
        "Each group's mean over its seeds of the per-step values (each run smoothed over about "
        "a fiftieth of the run), against training progress in epochs; the band spans the "
        "lowest to the highest seed at each step.",
    )
    return ReportSection("Training curves", body, order=20)


def group_metrics_section(groups: Sequence[SeedGroup], mismatches: dict[str, ProtocolMismatch]) -> ReportSection:
    import pandas as pd  # on first use: see ganlab.page.figures

    records = [
        {"group": group.name, "metric": metric, "epoch": r.get("epoch", math.nan), "value": r["value"]}
        for group in groups
        for run in group.runs
        for metric, found in by_metric(run.evaluations).items()
        for r in found
    ]
    if not records:
        return ReportSection(
            "Metrics",
            h.paragraph("No run recorded an evaluation metric (evaluations.jsonl is empty everywhere).", "note"),
            order=30,
        )
    frame = pd.DataFrame(records)
    metrics = list(dict.fromkeys(frame["metric"]))
    columns = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / columns)
    with plot(width=4.2 * columns, height=3.1 * rows + 0.5, nrows=rows, ncols=columns, squeeze=False) as (fig, axes):
        for ax, metric in zip(axes.flat, metrics):
            for group in groups:
                found = frame[(frame["metric"] == metric) & (frame["group"] == group.name)].groupby("epoch")["value"]
                if found.ngroups:
                    ax.plot(found.mean().index, found.mean(), marker="o", color=group.color)
                    ax.fill_between(
                        found.min().index, found.min(), found.max(), color=group.color, alpha=BAND_ALPHA, linewidth=0
                    )
            ax.set_title(metric + (" (not comparable)" if metric in mismatches else ""))
            ax.set_xlabel("epoch")
        for ax in list(axes.flat)[len(metrics) :]:
            ax.set_visible(False)
        run_legend(fig, groups)
        chart = figure_image(fig, "evaluation metrics of every group over epochs")
    body = h.figure(
        chart,
        "Each group's mean over its seeds of every evaluation metric against the epoch it was "
        "taken at; the band spans the lowest to the highest seed.",
    )
    return ReportSection("Metrics", body, order=30)
