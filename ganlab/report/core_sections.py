"""The report sections every run has, whatever its evaluators: summary, recipe, metrics over time, environment.

Each is a pure function of files in the run directory (meta.json, recipe.toml, metrics.jsonl,
evaluations.jsonl), so a report rebuilt later is the same page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..contracts.scores import ScoreKind
from ..page import html as h
from ..page.figures import COLORS, figure_image, plot
from ..page.html import ReportSection
from ..recipes.recipe import parse_override, recipe_tables, section_label
from ..rundir.records import METRIC_LABELS
from ..rundir.rundir import RunDir

STATUS_TONES = {
    "finished": "ok",
    "running": "",
    "interrupted": "warn",
    "failed": "bad",
    "diverged": "bad",
    "imported": "ok",
}
STATUS_TEXT = {
    "finished": "The run trained to the end.",
    "running": "The run had not ended when this report was made (or its process was killed without recording an end).",
    "interrupted": "The run was stopped with Ctrl-C; a checkpoint was written, so it can be resumed.",
    "failed": "The run stopped with an error before its end.",
    "diverged": "Training diverged: a loss became NaN or infinite, and the run stopped.",
    "imported": "The generator was trained elsewhere and imported (ganlab import): no training history, no losses.",
}
EVALUATION_FIELDS = ("metric", "value", "step", "epoch", "time")
"""Fields every evaluation record has; all others are the protocol that produced the value."""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else (f"{minutes} min {secs:02d} s" if minutes else f"{secs} s")


def _progress(done: int, total: int) -> str:
    share = done / total if total else 0.0
    return (
        f'<span class="progress"><span style="width:{100 * min(share, 1.0):.1f}%"></span></span>'
        f"{done:,} of {total:,} steps ({100 * share:.0f}%)"
    )


def last_epoch_means(metrics: list[dict[str, Any]]) -> tuple[Any, int, dict[str, float | None]]:
    """(last epoch, its step count, mean of each logged number over it; None where none was finite).

    Single steps are too noisy to stand for where a run ended; the last epoch that has records does.
    """
    last_epoch = metrics[-1].get("epoch") if metrics else None
    tail = [m for m in metrics if m.get("epoch") == last_epoch]
    means = {}
    for key in METRIC_LABELS:
        values = np.array([m.get(key, math.nan) for m in tail], dtype=float)
        finite = values[np.isfinite(values)]
        means[key] = float(finite.mean()) if finite.size else None
    return last_epoch, len(tail), means


def final_losses(metrics: list[dict[str, Any]], scores: ScoreKind) -> list[tuple[str, str]]:
    """The last epoch's mean of each logged number, D(x) and D(G(z)) named as the loss's kind of score."""
    if not metrics:
        return []
    last_epoch, count, means = last_epoch_means(metrics)
    rows = [
        (f"final {label}", h.escape("not finite" if means[key] is None else h.format_value(means[key])))
        for key, label in METRIC_LABELS.items()
    ]
    rows.append(("D(x), D(G(z)) are", h.escape(f"{scores.name}: {scores.meaning}")))
    rows.append(("", f'<span class="muted">mean over the {count} steps of epoch {h.escape(last_epoch)}</span>'))
    return rows


def final_and_best(records: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A metric's last record, and its best one where the record says which way is better."""
    final = records[-1]
    higher = final.get("higher_is_better")
    if not isinstance(higher, bool) or len(records) < 2:
        return final, None
    return final, (max if higher else min)(records, key=lambda r: r["value"])


def value_at_step(record: dict[str, Any]) -> str:
    return f"{h.format_value(record['value'])} (step {h.format_value(record.get('step'))})"


def best_evaluations(evaluations: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Final value of each evaluation metric, and its best where the record says which way is better."""
    rows = []
    for metric, records in by_metric(evaluations).items():
        final, best = final_and_best(records)
        text = value_at_step(final) + (f"; best {value_at_step(best)}" if best else "")
        rows.append((metric, h.escape(text)))
    return rows


def summary_section(run_dir: RunDir, meta: dict[str, Any], evaluator_rows: Iterable[tuple[str, str]]) -> ReportSection:
    status = str(meta.get("status", "unknown"))
    said = STATUS_TEXT.get(status, "")
    if meta.get("stop_reason"):
        said = f"A component ended the run early: {meta['stop_reason']}. Its checkpoint is kept: it can be resumed."
    rows: list[tuple[str, str]] = [
        ("status", h.badge(status, STATUS_TONES.get(status, "warn")) + " " + h.escape(said)),
        ("progress", _progress(int(meta.get("steps") or 0), int(meta.get("total_steps") or 0))),
        ("epochs", h.escape(f"{meta.get('epochs_completed', 0)} of {meta.get('epochs', '?')} completed")),
        ("started", h.escape(meta.get("started") or "unknown")),
        ("ended", h.escape(meta.get("ended") or "not recorded")),
        ("duration", h.escape(duration(meta.get("elapsed_s")))),
        ("images/s", h.escape(h.format_value(meta.get("images_per_s")) or "unknown")),
        ("device", h.escape(_device(meta))),
        ("seed, batch size", h.escape(f"{meta.get('seed')}, {meta.get('batch_size')}")),
    ]
    origin = meta.get("imported")
    if isinstance(origin, dict):
        rows.append(
            (
                "imported from",
                h.escape(
                    f"{origin.get('source')} (SHA-256 {str(origin.get('sha256'))[:16]}..., "
                    f"parameter names: {origin.get('names')}) at {origin.get('time')}"
                ),
            )
        )
    rows += final_losses(run_dir.read_metrics(), ScoreKind.from_meta(meta))
    rows += best_evaluations(run_dir.read_evaluations())
    rows += list(evaluator_rows)
    problems = ""
    if meta.get("error"):
        problems += "<h3>Why it stopped</h3>" + h.preformatted(meta["error"])
    for label, key in (
        ("Evaluators that failed at the end of the run", "evaluator_errors"),
        ("Evaluators that failed at the end of the run", "hook_errors"),  # until 0.6: ganlab 0.4
        ("Plugins that failed to load", "plugin_failures"),
    ):
        if meta.get(key):
            problems += f"<h3>{h.escape(label)}</h3>" + h.preformatted("\n".join(map(str, meta[key])))
    return ReportSection("Summary", h.key_values(rows) + problems, order=0)


def _device(meta: dict[str, Any]) -> str:
    device, name = meta.get("device", "unknown"), meta.get("device_name")
    return f"{device} ({name})" if name and name != device else str(device)


def _override_paths(overrides: Iterable[str]) -> set[tuple[Any, ...]]:
    paths = set()
    for text in overrides:
        try:
            paths.add(tuple(parse_override(text)[0]))
        except ValueError:
            continue
    return paths


def recipe_section(run_dir: RunDir, document: dict[str, Any], overrides: list[str]) -> ReportSection:
    """Every component and its settings as the run used them; values set with ``--set`` are marked."""
    overridden = _override_paths(overrides)
    cards = []
    for path, table in recipe_tables(document):
        label = section_label(path)
        component = table.get("name")
        heading = f"{label}: {component}" if isinstance(component, str) else label
        rows = [f'<tr><th colspan="2">{h.escape(heading)}</th></tr>']
        for key, value in table.items():
            mark = '<span class="set">--set</span>' if path + (key,) in overridden else ""
            rows.append(f"<tr><td>{h.escape(key)}</td><td>{h.escape(h.format_value(value))}{mark}</td></tr>")
        cards.append(f'<table class="data">{"".join(rows)}</table>')
    intro = ""
    if overrides:
        intro = h.paragraph("Set on the command line (marked --set below): " + " ".join(overrides))
    raw = run_dir.recipe_path.read_text("utf-8") if run_dir.recipe_path.exists() else ""
    body = (
        intro
        + f'<div class="row">{"".join(cards)}</div>'
        + h.details("recipe.toml (runnable as is)", h.preformatted(raw))
    )
    return ReportSection("Recipe", body, order=10)


def series_name(record: dict[str, Any]) -> str:
    """The series a score belongs to: its metric, and for a score of truncated latents (``ganlab evaluate
    --truncation``) its psi as well, so that ``fid (truncation 0.5)`` never stands for the run's ``fid``
    in a report, a summary or a comparison."""
    psi = record.get("truncation")
    if isinstance(psi, (int, float)) and not isinstance(psi, bool):
        return f"{record['metric']} (truncation {psi:g})"
    return record["metric"]


def by_metric(evaluations: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each metric's records in step order (in the order written where steps tie), a truncated one's apart
    (:func:`series_name`).

    ``ganlab evaluate`` appends scores of older checkpoints after a run's own, so the file's order is not
    the training order; the last record of a metric is the one taken latest in training.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in evaluations:
        if isinstance(record.get("metric"), str) and isinstance(record.get("value"), (int, float)):
            groups.setdefault(series_name(record), []).append(record)
    for records in groups.values():
        records.sort(key=lambda r: r["step"] if isinstance(r.get("step"), (int, float)) else -math.inf)
    return groups


def _plain(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def evaluations_section(run_dir: RunDir) -> ReportSection:
    """Any metric in evaluations.jsonl, over training steps, with the protocol that produced it.

    Protocol fields that are the same in every record of a metric are listed once; those that vary are
    columns of the metric's table. Nothing here knows a metric's name, so a plugin's metric shows up too.
    """
    import pandas as pd  # on first use: see ganlab.page.figures

    groups = by_metric(run_dir.read_evaluations())
    if not groups:
        return ReportSection(
            "Metrics over time",
            h.paragraph(
                "No evaluation metrics were recorded in this run (evaluations.jsonl is empty). Add a metric "
                "evaluator to the recipe's [[evaluators]] to measure sample quality during training.",
                "note",
            ),
            order=60,
        )
    body = _metrics_figure(groups)
    for metric, records in groups.items():
        frame = pd.DataFrame([{k: _plain(v) for k, v in r.items() if k != "metric"} for r in records])
        protocol = [c for c in frame.columns if c not in EVALUATION_FIELDS]
        constant = [c for c in protocol if frame[c].astype(str).nunique() == 1]
        columns = [c for c in ("step", "epoch", "value") if c in frame] + [c for c in protocol if c not in constant]
        body += f"<h3>{h.escape(metric)}</h3>"
        if constant:
            body += h.key_values((c, h.escape(h.format_value(frame[c].iloc[0]))) for c in constant)
        body += h.table(frame[columns])
    return ReportSection("Metrics over time", body, order=60)


def _metrics_figure(groups: dict[str, list[dict[str, Any]]]) -> str:
    count = len(groups)
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    with plot(width=4.2 * columns, height=3.0 * rows, nrows=rows, ncols=columns, squeeze=False) as (fig, axes):
        for ax, (metric, records) in zip(axes.flat, groups.items()):
            steps = [r.get("step", i) for i, r in enumerate(records)]
            ax.plot(steps, [r["value"] for r in records], marker="o", color=COLORS["discriminator"])
            ax.set_title(metric)
            ax.set_xlabel("step")
        for ax in list(axes.flat)[count:]:
            ax.set_visible(False)
        return h.figure(figure_image(fig, "evaluation metrics over training steps"))


def environment_section(meta: dict[str, Any]) -> ReportSection:
    import pandas as pd  # on first use: see ganlab.page.figures

    versions = dict(meta.get("versions") or {})
    plugins = versions.pop("plugins", {}) or {}
    rows = [(name, h.escape(version)) for name, version in versions.items()]
    rows += [("device", h.escape(_device(meta))), ("recipe file", h.escape(meta.get("recipe_source", "")))]
    plugin_table = h.table(pd.DataFrame({"plugin": list(plugins), "version": list(plugins.values())}))
    return ReportSection("Environment", h.key_values(rows) + "<h3>Plugins</h3>" + plugin_table, order=1000)
