"""The sections of a comparison page. Each run keeps one colour in every figure, table and caption.

Every section compares what the runs have and names what is missing, so runs of different lengths, with
different evaluators or with files lost still make a page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..contracts.scores import ScoreKind
from ..evaluators.d_distributions import read_scores, score_range
from ..evaluators.samples import display_width
from ..evaluators.series import auto_window, extra_keys, smooth
from ..page import html as h
from ..page.figures import figure_image, finite, plot
from ..page.html import ReportSection
from ..report.core_sections import STATUS_TEXT, STATUS_TONES, by_metric
from ..rundir.records import METRIC_LABELS
from .compared_run import ComparedRun
from .metric_protocols import ProtocolMismatch
from .recipe_diff import Absent, Difference
from .samples import FinalGrid

if TYPE_CHECKING:
    import pandas as pd


def swatch(run: ComparedRun) -> str:
    """The run's name after a square of its colour: the page's legend wherever a run is named."""
    return f'<span style="color:{h.escape(run.color)}">&#9632;</span> <strong>{h.escape(run.name)}</strong>'


def run_legend(fig: Any, runs: Sequence[ComparedRun]) -> None:
    """Every run in the legend under the figure, even one that has no line in it."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=run.color, linewidth=2, label=run.name) for run in runs]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(runs), 3), frameon=False)


def _missing(notes: Sequence[str]) -> str:
    return h.paragraph("Missing: " + "; ".join(notes) + ".", "note") if notes else ""


def overview_section(
    runs: Sequence[ComparedRun], summary: pd.DataFrame, mismatches: dict[str, ProtocolMismatch]
) -> ReportSection:
    cards = []
    for run in runs:
        lines = [
            swatch(run) + " " + h.badge(run.status, STATUS_TONES.get(run.status, "warn")),
            h.escape(STATUS_TEXT.get(run.status, "")),
            f'<span class="muted">{h.escape(run.run_dir.path)}</span>',
        ]
        if run.meta.get("error"):
            lines.append(h.preformatted(str(run.meta["error"])))
        lines += [h.escape(f"Missing: {note}.") for note in run.missing]
        cards.append("<br>".join(lines))
    body = "".join(f"<p>{card}</p>" for card in cards) + h.table(summary.reset_index(names=""))
    body += h.paragraph(
        "Losses and D outputs are means over each run's last epoch; final and best values of "
        "the evaluation metrics every run recorded are given with the step they were taken at.",
        "note",
    )
    body += "".join(_not_comparable(mismatch, runs) for mismatch in mismatches.values())
    return ReportSection("Overview", body, order=0)


def _not_comparable(mismatch: ProtocolMismatch, runs: Sequence[ComparedRun]) -> str:
    return (
        f'<div class="flag bad"><h3>{h.escape(mismatch.metric)}: not comparable</h3>'
        + h.paragraph(
            f"The runs measured {mismatch.metric} differently, so its numbers cannot be compared "
            "between them: " + mismatch.describe([r.name for r in runs]) + "."
        )
        + "</div>"
    )


def recipe_section(runs: Sequence[ComparedRun], differences: Sequence[Difference]) -> ReportSection:
    unreadable = [f"{run.name} has no readable recipe.toml" for run in runs if run.recipe is None]
    if not differences:
        text = "The runs' resolved recipes are identical." if not unreadable else "The readable recipes are identical."
        return ReportSection("Recipe differences", h.paragraph(text) + _missing(unreadable), order=10)
    head = "<tr><th>setting</th>" + "".join(f"<th>{swatch(run)}</th>" for run in runs) + "</tr>"
    rows, section = [], None
    for difference in differences:
        if difference.section != section:
            section = difference.section
            rows.append(f'<tr><th colspan="{len(runs) + 1}">[{h.escape(section)}]</th></tr>')
        cells = "".join(f"<td>{_setting(value)}</td>" for value in difference.values)
        rows.append(f"<tr><td>{h.escape(difference.key)}</td>{cells}</tr>")
    body = (
        h.paragraph(
            f"Only the {len(differences)} settings whose values differ, section by section; every "
            "other setting is the same in all runs (defaults included)."
        )
        + f'<table class="data">{head}{"".join(rows)}</table>'
        + _missing(unreadable)
    )
    return ReportSection("Recipe differences", body, order=10)


def _setting(value: Any) -> str:
    if isinstance(value, Absent):
        return f'<span class="muted">({h.escape(value.what)})</span>'
    return h.escape(h.format_value(value))


def curves_section(runs: Sequence[ComparedRun]) -> ReportSection:
    logged = [run for run in runs if not run.metrics.empty]
    if not logged:
        return ReportSection("Training curves", h.paragraph("No run logged a training step.", "note"), order=20)
    extras = list(dict.fromkeys(key for run in logged for key in extra_keys(run.metrics)))
    panels = [*METRIC_LABELS.items(), *((key, key) for key in extras)]
    rows = math.ceil(len(panels) / 2)
    with plot(width=10.0, height=3.2 * rows, nrows=rows, ncols=2, squeeze=False, sharex=True) as (fig, axes):
        for ax, (key, label) in zip(axes.flat, panels):
            for run in logged:
                if key in run.metrics:
                    window = auto_window(len(run.metrics))
                    ax.plot(run.epochs(), smooth(run.metrics[key], window), color=run.color, linewidth=1.6)
            ax.set_title(label)
        for column, ax in enumerate(axes[-1]):
            if len(panels) % 2 and column == 1:  # the last cell is empty: the panel above it takes the axis
                ax.set_visible(False)
                ax = axes[-2][1]
                ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("epoch")
        run_legend(fig, runs)
        chart = figure_image(fig, ", ".join(label for _, label in panels) + " of every run over epochs")
    missing = [f"{run.name} logged no training step" for run in runs if run.metrics.empty]
    missing += [f"{run.name} logged no {key}" for key in extras for run in logged if key not in run.metrics]
    body = h.figure(
        chart,
        "Each run's per-step values, smoothed over about a fiftieth of the run, against "
        "training progress in epochs, so runs of different lengths or batch sizes line up; "
        "after the losses and D's scores, every other number a run logged (learning rates, "
        "an augmentation's p, regularizer terms), one panel each.",
    ) + _missing(missing)
    return ReportSection("Training curves", body, order=20)


def metrics_section(runs: Sequence[ComparedRun], mismatches: dict[str, ProtocolMismatch]) -> ReportSection:
    groups = [by_metric(run.evaluations) for run in runs]
    metrics = list(dict.fromkeys(metric for group in groups for metric in group))
    if not metrics:
        return ReportSection(
            "Metrics",
            h.paragraph("No run recorded an evaluation metric (evaluations.jsonl is empty everywhere).", "note"),
            order=30,
        )
    columns = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / columns)
    with plot(width=4.2 * columns, height=3.1 * rows + 0.5, nrows=rows, ncols=columns, squeeze=False) as (fig, axes):
        for ax, metric in zip(axes.flat, metrics):
            for run, group in zip(runs, groups):
                records = group.get(metric, [])
                ax.plot(
                    [r.get("epoch", math.nan) for r in records],
                    [r["value"] for r in records],
                    marker="o",
                    color=run.color,
                )
            ax.set_title(metric + (" (not comparable)" if metric in mismatches else ""))
            ax.set_xlabel("epoch")
        for ax in list(axes.flat)[len(metrics) :]:
            ax.set_visible(False)
        run_legend(fig, runs)
        chart = figure_image(fig, "evaluation metrics of every run over epochs")
    missing = [
        f"{run.name} recorded no {metric}"
        for metric in metrics
        for run, group in zip(runs, groups)
        if metric not in group
    ]
    body = h.figure(chart, "Every evaluation metric any run recorded, per run, against the epoch it was taken at.")
    body += "".join(_not_comparable(mismatches[m], runs) for m in metrics if m in mismatches) + _missing(missing)
    return ReportSection("Metrics", body, order=30)


def distributions_section(runs: Sequence[ComparedRun]) -> ReportSection:
    """D(x) and D(G(z)) of every run at the last epoch that all runs measuring them measured."""
    measured = {run.name: {r["epoch"]: r for r in read_scores(run.run_dir)} for run in runs}
    having = [run for run in runs if measured[run.name]]
    missing = [f"{run.name} has no d-distributions measurements" for run in runs if not measured[run.name]]
    common = set.intersection(*(set(measured[run.name]) for run in having)) if having else set()
    if not common:
        text = (
            "No run measured D(x) and D(G(z)) with the d-distributions evaluator."
            if not having
            else "The runs measured D(x) and D(G(z)) at no common epoch."
        )
        return ReportSection("D(x) and D(G(z))", h.paragraph(text, "note") + _missing(missing), order=40)
    epoch = max(common)
    records = {run.name: measured[run.name][epoch] for run in having}
    kind = shared_scores(having)
    chart = _distributions_figure(having, records, epoch, runs, kind)
    body = h.figure(
        chart,
        f"{kind.meaning} At epoch {epoch} (the last epoch every run measured; 0 is before "
        "training): for each run's fixed batch of training images (left) and for newly "
        "generated ones (right).",
    ) + _missing(missing)
    return ReportSection("D(x) and D(G(z))", body, order=40)


def shared_scores(runs: Sequence[ComparedRun]) -> ScoreKind:
    """The kind of score the runs' losses make, if they all make the same; else unbounded scores."""
    kinds = list(dict.fromkeys(ScoreKind.from_meta(run.meta) for run in runs))
    if len(kinds) == 1:
        return kinds[0]
    return ScoreKind(
        "score (each run's loss's own)",
        "Each run's scores are its own loss's ("
        + ", ".join(kind.name for kind in kinds)
        + "), which do not share a scale: compare "
        "how far apart D(x) and D(G(z)) are within a run, not positions across runs.",
    )


def _distributions_figure(
    having: Sequence[ComparedRun],
    records: dict[str, dict[str, Any]],
    epoch: int,
    runs: Sequence[ComparedRun],
    kind: ScoreKind,
) -> str:
    import numpy as np
    import seaborn as sns  # on first use: see ganlab.page.figures

    span = score_range(kind, [record[key] for record in records.values() for key in ("real", "fake")])
    with plot(width=10.0, height=3.6, ncols=2, sharey=True) as (fig, axes):
        for ax, (key, label) in zip(axes, (("real", "D(x)"), ("fake", "D(G(z))"))):
            for run in having:
                values = finite(records[run.name][key])
                if values.size:
                    sns.histplot(
                        x=values,
                        ax=ax,
                        bins=25,
                        binrange=span,
                        stat="density",
                        element="step",
                        fill=False,
                        color=run.color,
                        kde=bool(np.ptp(values) > 1e-6),
                        kde_kws={"clip": span},
                    )
            ax.set_title(f"{label} at epoch {epoch}")
            ax.set_xlim(*span)
            ax.set_xlabel(kind.name)
        run_legend(fig, runs)
        return figure_image(fig, f"distributions of D(x) and D(G(z)) of every run at epoch {epoch}")


def samples_section(grids: Sequence[FinalGrid]) -> ReportSection:
    """The final grids, grouped by latent size when the runs' sizes differ: only within a group are two
    grids drawn from the same inputs, and a single row of all of them would suggest otherwise."""
    groups: dict[int | None, list[FinalGrid]] = {}
    for grid in grids:
        groups.setdefault(grid.latent, []).append(grid)
    body = h.paragraph(
        "Each run's final generator, fed the same latent vectors wherever the runs' latent sizes "
        "match (the fixed noise of the first run with that size): the same position in two grids "
        "is the same input, so differences are the runs' own."
    )
    if len(groups) == 1:
        return ReportSection("Final samples", body + _grid_row(grids), order=50)
    body += h.paragraph(
        "These runs' grids cannot all share their inputs, so they are shown in groups; compare "
        "them position by position only within a group."
    )
    for latent, members in groups.items():
        body += f"<h3>{h.escape(_group_title(latent, [grid.run.name for grid in members]))}</h3>" + _grid_row(members)
    return ReportSection("Final samples", body, order=50)


def _group_title(latent: int | None, names: list[str]) -> str:
    if latent is None:
        return f"Generator not loaded: {', '.join(names)} (each its own saved grid, if any)"
    if len(names) == 1:
        return f"Latent size {latent}: {names[0]} only (no other run shares its inputs)"
    return f"Latent size {latent}: {', '.join(names)} (the same latent vectors)"


def _grid_row(grids: Sequence[FinalGrid]) -> str:
    figures = []
    for grid in grids:
        if grid.png is None:
            figures.append(f"<figure>{h.paragraph(grid.caption, 'note')}</figure>")
            continue
        width = display_width(grid.png, 300)
        image = h.image(grid.png, "image/png", f"final samples of {grid.run.name}", pixelated=True, width=width)
        figures.append(
            f'<figure style="width:{width}px">{image}<figcaption>{swatch(grid.run)}<br>{h.escape(grid.caption)}'
            "</figcaption></figure>"
        )
    return f'<div class="row">{"".join(figures)}</div>'
