"""Report sections of the metric evaluators, built from ``evaluations.jsonl`` alone.

Each section shows the scores over training and the protocol they were made under; when the protocol
changed within the run (say, ``ganlab evaluate`` with another ``--num-samples``), it says what changed.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..common.whole_numbers import parse_whole_number
from ..contracts.engine import ReportSection
from ..metrics.protocol import protocol_differences, protocol_of

if TYPE_CHECKING:
    from ..rundir.rundir import RunDir

ORDER = 60


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _when(record: dict[str, Any]) -> tuple[Any, Any, Any]:
    return record.get("step"), record.get("epoch"), record.get("checkpoint", "")


def protocol_html(records: list[dict[str, Any]]) -> str:
    """The protocol of the latest score, and a warning naming what differs in earlier ones."""
    latest = records[-1]
    rows = [(k, v) for k, v in protocol_of(latest).items() if k != "metric"]
    out = "<p>Protocol of the latest score:</p>" + _table(("field", "value"), rows)
    changed = sorted(
        {d for r in records[:-1] if r["metric"] == latest["metric"] for d in protocol_differences(r, latest)}
    )
    if changed:
        out += (
            '<p class="warning">Earlier scores of this run were made under a different protocol and are '
            "not comparable with the latest: " + html.escape("; ".join(changed)) + "</p>"
        )
    return out


def _evaluations(run_dir: RunDir, keep: Callable[[str], bool]) -> list[dict[str, Any]]:
    return [r for r in run_dir.read_evaluations() if keep(r.get("metric", ""))]


def scores_html(run_dir: RunDir, metrics: tuple[str, ...]) -> str:
    """Every score of ``metrics`` over training, then the protocol of the latest."""
    records = _evaluations(run_dir, lambda m: m in metrics)
    if not records:
        return "<p>No scores yet.</p>"
    rows = [(*_when(r), r["metric"], r["value"], r.get("std", "")) for r in records]
    return _table(("step", "epoch", "checkpoint", "metric", "value", "std"), rows) + protocol_html(records)


def protocol_section(run_dir: RunDir, metrics: tuple[str, ...], title: str) -> ReportSection:
    return ReportSection(title, scores_html(run_dir, metrics), ORDER)


def _pivot(records: list[dict[str, Any]], columns: list[str]) -> list[tuple[Any, ...]]:
    """One row per evaluation (step, epoch, checkpoint) with the value of each metric in ``columns``."""
    table: dict[tuple[Any, ...], dict[str, float]] = {}
    for r in records:
        table.setdefault(_when(r), {})[r["metric"]] = r["value"]
    return [(*when, *(values.get(c, "") for c in columns)) for when, values in table.items()]


def swd_level(metric: str) -> int | None:
    """The pyramid level (in pixels) of a per-level SWD score's name, ``swd_<size>px``; None for another
    name, such as one edited into evaluations.jsonl by hand."""
    return parse_whole_number(metric[4:-2]) if metric.startswith("swd_") and metric.endswith("px") else None


def swd_section(run_dir: RunDir) -> ReportSection:
    title = "SWD: sliced Wasserstein distance per pyramid level (x1e3, lower is better)"
    records = _evaluations(run_dir, lambda m: m == "swd" or swd_level(m) is not None)
    if not records:
        return ReportSection(title, "<p>No scores yet.</p>", ORDER)
    levels = sorted({r["metric"] for r in records} - {"swd"}, key=lambda m: -swd_level(m))
    headers = ("step", "epoch", "checkpoint", *(f"{m[4:-2]} px" for m in levels), "average")
    body = (
        "<p>The finest level measures detail and texture, the coarsest colour and layout (Karras et al. "
        "2018).</p>"
        + _table(headers, _pivot(records, [*levels, "swd"]))
        + protocol_html([r for r in records if r["metric"] == "swd"])
    )
    return ReportSection(title, body, ORDER + 1)


def diversity_section(run_dir: RunDir) -> ReportSection:
    title = "Diversity: mean MS-SSIM of random pairs (lower is more diverse)"
    records = _evaluations(run_dir, lambda m: m in ("diversity", "diversity_real"))
    if not records:
        return ReportSection(title, "<p>No scores yet.</p>", ORDER)
    body = (
        "<p>Generated pairs far more alike than real pairs is the signature of mode collapse.</p>"
        + _table(("step", "epoch", "checkpoint", "generated", "real"), _pivot(records, ["diversity", "diversity_real"]))
        + protocol_html([r for r in records if r["metric"] == "diversity"])
    )
    return ReportSection(title, body, ORDER + 2)
