"""The study report: one self-contained HTML page (``report.html`` in the study's folder), drawn from the
study's database, its record and its run directories alone, so ``ganlab report runs/<study>`` rebuilds it.

Sections: the summary (objective, trials by state, the budget pruning saved, the re-check's verdict), the
optimisation history, the objective at each evaluation of every trial (pruned ones stop early), the
parameter importances, the objective against each parameter, the re-check's grouped table, and every
trial in a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.atomic import atomic_write_text
from ..common.errors import RunError
from ..compare.page import compare
from ..compare.run_set import runs_in
from ..compare.seed_groups import HOW_TO_READ, group_table
from ..loading.manager import Plugins
from ..page import html as h
from ..page.figures import COLORS, figure_image, plot
from .results import trials_frame
from .storage import open_study
from .study import RECHECK, read_record

if TYPE_CHECKING:
    import pandas as pd

REPORT = "report.html"
MIN_FOR_IMPORTANCE = 3
"""Complete trials below which parameter importances are not computed: a handful of points says nothing
about which parameter matters."""
STATE_COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728", "RUNNING": "#7f7f7f"}


def write_study_report(folder: Path, plugins: Plugins, output: Path | None = None) -> Path:
    """Write the study report of ``folder`` (to ``output``, default ``folder/report.html``); its path."""
    from .plan import require_optuna

    record = read_record(folder)
    if record is None:
        raise RunError(f"{str(folder)!r} holds no study.json, so it is no study's folder")
    require_optuna()
    study = open_study(folder, record)
    keys = list(record["space"])
    frame = trials_frame(study, keys)
    sections = [
        summary_section(record, frame),
        history_section(record, frame),
        curves_section(record, study),
        importance_section(study, frame),
        parameters_section(record, frame),
        recheck_section(folder, record),
        trials_section(frame),
    ]
    path = output or folder / REPORT
    subtitle = h.escape(f"{record['recipe']}: {len(frame)} trials, objective {record['objective']}")
    atomic_write_text(path, h.page(f"ganlab tune: {record['name']}", subtitle, sections))
    return path


def summary_section(record: dict[str, Any], frame: pd.DataFrame) -> h.ReportSection:
    counts = frame["state"].value_counts().to_dict() if not frame.empty else {}
    rows = [
        ("objective", h.escape(f"{record['objective']} ({record['direction']}), logged by {record['evaluator']}")),
        ("trials", h.escape(", ".join(f"{n} {state.lower()}" for state, n in counts.items()) or "none")),
        ("pruner", h.escape(f"{record['pruner']} ({record['startup_trials']} start-up trials)")),
    ]
    complete = frame[frame["state"] == "COMPLETE"]
    if not complete.empty:
        best = complete.sort_values("value", ascending=record["direction"] == "minimize").iloc[0]
        rows.append(("best single trial", h.escape(f"{best['run']}: {h.format_value(best['value'])}")))
    budget = record.get("budget")
    if budget:
        rows.append(("budget", h.escape(budget_text(budget))))
    recheck = record.get("recheck")
    rows.append(("re-check", h.preformatted(recheck["text"]) if recheck else h.escape("not done yet")))
    return h.ReportSection("Summary", h.key_values(rows), order=0)


def budget_text(budget: dict[str, Any]) -> str:
    """``12,400 of 24,000 steps (48% saved by pruning 7 of 12 trials), 310 s``."""
    return (
        f"{budget['steps_run']:,} of the {budget['steps_full']:,} steps that full-length trials would have run "
        f"({budget['saved_share']:.0%} saved by pruning {budget['pruned']} of {budget['trials']} trials), "
        f"{budget['seconds']:,.0f} s of training"
    )


def history_section(record: dict[str, Any], frame: pd.DataFrame) -> h.ReportSection:
    scored = frame[frame["value"].notna()]
    if scored.empty:
        return h.ReportSection("Optimisation history", h.paragraph("No trial has a value yet."), order=10)
    complete = scored[scored["state"] == "COMPLETE"].sort_values("trial")
    with plot(width=9, height=3.6) as (fig, ax):
        for state, rows in scored.groupby("state"):
            ax.scatter(rows["trial"], rows["value"], color=STATE_COLORS.get(state, "#333"), label=state.lower(), s=22)
        if not complete.empty:
            best = complete["value"].cummin() if record["direction"] == "minimize" else complete["value"].cummax()
            ax.step(complete["trial"], best, where="post", color=COLORS["logged"], linewidth=1.4, label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(record["objective"])
        ax.legend(loc="best", frameon=False)
        image = figure_image(fig, "optimisation history")
    caption = (
        f"Each trial's {record['objective']}: a complete trial's final value, a pruned trial's last reported "
        "one. The line is the best complete trial so far."
    )
    return h.ReportSection("Optimisation history", h.figure(image, caption), order=10)


def curves_section(record: dict[str, Any], study: Any) -> h.ReportSection:
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not trials:
        return h.ReportSection("Pruned and completed trials", h.paragraph("No trial reported a value yet."), order=20)
    with plot(width=9, height=3.6) as (fig, ax):
        for trial in trials:
            epochs = sorted(trial.intermediate_values)
            ax.plot(
                epochs,
                [trial.intermediate_values[e] for e in epochs],
                color=STATE_COLORS.get(trial.state.name, "#333"),
                linewidth=1.0,
                marker="o",
                markersize=3,
                alpha=0.8,
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(record["objective"])
        image = figure_image(fig, "objective at each evaluation")
    caption = (
        f"{record['objective']} at each evaluation of every trial: complete trials in blue, pruned in orange "
        "(they stop where the pruner judged them), failed in red."
    )
    budget = record.get("budget")
    extra = h.paragraph(h.escape("Budget: " + budget_text(budget))) if budget else ""
    return h.ReportSection("Pruned and completed trials", h.figure(image, caption) + extra, order=20)


def importance_section(study: Any, frame: pd.DataFrame) -> h.ReportSection:
    import optuna

    complete = int((frame["state"] == "COMPLETE").sum())
    title = "Parameter importances"
    if complete < MIN_FOR_IMPORTANCE:
        note = (
            f"Too few complete trials ({complete}) to tell which parameter matters; importances need at least "
            f"{MIN_FOR_IMPORTANCE}."
        )
        return h.ReportSection(title, h.paragraph(h.escape(note)), order=30)
    try:
        importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as e:
        return h.ReportSection(title, h.paragraph(h.escape(f"Importances cannot be computed here: {e}")), order=30)
    with plot(width=7, height=0.5 + 0.4 * len(importances)) as (fig, ax):
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names], color=COLORS["logged"])
        ax.set_xlabel("importance (share of the objective's variance)")
        image = figure_image(fig, "parameter importances")
    caption = "fANOVA importances over the complete trials (optuna.importance): which parameter moved the objective."
    return h.ReportSection(title, h.figure(image, caption), order=30)


def parameters_section(record: dict[str, Any], frame: pd.DataFrame) -> h.ReportSection:
    keys = list(record["space"])
    scored = frame[frame["value"].notna()]
    if scored.empty:
        return h.ReportSection("Objective against each parameter", h.paragraph("No values yet."), order=40)
    columns = min(len(keys), 3)
    rows = -(-len(keys) // columns)
    with plot(width=3.2 * columns, height=2.8 * rows, nrows=rows, ncols=columns, squeeze=False) as (fig, axes):
        for index, key in enumerate(keys):
            ax = axes[index // columns][index % columns]
            for state, part in scored.groupby("state"):
                ax.scatter(
                    part[key].astype(str) if "choices" in record["space"][key] else part[key],
                    part["value"],
                    color=STATE_COLORS.get(state, "#333"),
                    s=18,
                )
            if record["space"][key].get("log"):
                ax.set_xscale("log")
            ax.set_xlabel(key)
            ax.set_ylabel(record["objective"])
        for index in range(len(keys), rows * columns):
            axes[index // columns][index % columns].set_visible(False)
        image = figure_image(fig, "objective against each parameter")
    caption = "Each trial's value against each searched key (blue: complete, orange: pruned, last reported value)."
    return h.ReportSection("Objective against each parameter", h.figure(image, caption), order=40)


def recheck_section(folder: Path, record: dict[str, Any]) -> h.ReportSection:
    title = "Re-check over fresh seeds"
    recheck = record.get("recheck")
    if not recheck or not (folder / RECHECK).is_dir():
        return h.ReportSection(title, h.paragraph("The re-check has not run yet: run the study again."), order=50)
    comparison = compare(runs_in(folder / RECHECK))
    table = group_table(comparison.groups, comparison.grouped, comparison.mismatches)
    body = (
        h.preformatted(recheck["text"])
        + h.table(table)
        + h.paragraph(h.escape(HOW_TO_READ))
        + h.preformatted(comparison.grouped.statement)
        + h.paragraph(h.escape(f"The runs are in {folder / RECHECK}: ganlab compare {folder / RECHECK}"))
    )
    return h.ReportSection(title, body, order=50)


def trials_section(frame: pd.DataFrame) -> h.ReportSection:
    return h.ReportSection("Trials", h.table(frame.set_index("trial")) if not frame.empty else "", order=60)
