"""Build self-contained HTML pages: inline CSS, images as data URIs, no script and no network.

A report is mailed around and opened from an attachment, so nothing in it may point outside the file.
The page carries a Content-Security-Policy that forbids every script and every remote fetch, so even a
mistake elsewhere cannot make it phone home. Every function here escapes the plain text it is given;
arguments named ``*_html`` are trusted markup that the caller has already built from escaped pieces.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..common.arguments import describe

if TYPE_CHECKING:
    import pandas as pd

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa; --accent: #0969da;
        --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
       background: #fff; }
header { padding: 20px 32px 12px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { margin: 0 0 4px; font-size: 24px; word-break: break-all; }
header .sub { color: var(--muted); }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 14px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; white-space: nowrap; }
main { padding: 8px 32px 40px; max-width: 1200px; }
section { margin-top: 28px; }
h2 { font-size: 19px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
p.note, .muted { color: var(--muted); }
table.data { border-collapse: collapse; margin: 6px 0 12px; font-size: 14px; }
table.data th, table.data td { border: 1px solid var(--line); padding: 3px 9px; text-align: left;
                               vertical-align: top; }
table.data th { background: var(--panel); font-weight: 600; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; }
img.pixel { image-rendering: pixelated; }
figure { margin: 8px 0 16px; }
figcaption { color: var(--muted); font-size: 13px; }
.row { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 13px; font-weight: 600;
         color: #fff; background: var(--muted); }
.badge.ok { background: var(--ok); } .badge.warn { background: var(--warn); } .badge.bad { background: var(--bad); }
.set { color: var(--warn); font-weight: 600; font-size: 12px; margin-left: 6px; }
.flag { border-left: 4px solid var(--warn); background: #fff8c5; padding: 8px 14px; margin: 10px 0; }
.flag.bad { border-color: var(--bad); background: #ffebe9; }
.flag.ok { border-color: var(--ok); background: #dafbe1; }
.flag h3 { margin: 0 0 4px; }
pre { background: var(--panel); border: 1px solid var(--line); padding: 10px; overflow-x: auto;
      font-size: 13px; white-space: pre-wrap; word-break: break-word; }
details summary { cursor: pointer; color: var(--accent); }
.progress { width: 260px; height: 10px; background: var(--line); border-radius: 5px; display: inline-block;
            vertical-align: middle; margin-right: 8px; overflow: hidden; }
.progress span { display: block; height: 100%; background: var(--accent); }
"""


def escape(value: Any) -> str:
    """``value`` as text that is safe in HTML content and in quoted attributes."""
    return html.escape(str(value), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image(data: bytes, mime: str, alt: str, *, pixelated: bool = False, width: int | None = None) -> str:
    """An ``<img>`` whose bytes are embedded; ``pixelated`` keeps small sample grids crisp when enlarged."""
    attrs = ' class="pixel"' if pixelated else ""
    attrs += f' width="{int(width)}"' if width else ""
    return f'<img src="{data_uri(data, mime)}" alt="{escape(alt)}"{attrs}>'


def figure(body_html: str, caption: str = "") -> str:
    caption_html = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{body_html}{caption_html}</figure>"


def paragraph(text: str, css_class: str = "") -> str:
    cls = f' class="{escape(css_class)}"' if css_class else ""
    return f"<p{cls}>{escape(text)}</p>"


def badge(text: str, tone: str = "") -> str:
    """A coloured label; ``tone`` is one of '', 'ok', 'warn', 'bad'."""
    return f'<span class="badge {escape(tone)}">{escape(text)}</span>'


def details(summary: str, body_html: str) -> str:
    """A collapsed block (no script needed: ``<details>`` is plain HTML)."""
    return f"<details><summary>{escape(summary)}</summary>{body_html}</details>"


def preformatted(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def format_value(value: Any) -> str:
    """Numbers shown to people: 4 significant digits, integers as they are, non-finite spelled out."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def key_values(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table; the label is plain text, the value is trusted markup."""
    body = "".join(f"<tr><th>{escape(label)}</th><td>{value_html}</td></tr>" for label, value_html in rows)
    return f'<table class="data">{body}</table>'


def table(frame: pd.DataFrame) -> str:
    """A pandas table with escaped cells and readable numbers."""
    return frame.to_html(
        index=False, escape=True, border=0, classes="data", na_rep="", float_format=lambda v: format_value(float(v))
    )


_SLUG = re.compile(r"[^a-z0-9]+")


def anchor(title: str) -> str:
    return _SLUG.sub("-", title.lower()).strip("-") or "section"


@dataclasses.dataclass(frozen=True)
class ReportSection:
    """A piece of the HTML report contributed by an evaluator: ``title`` is plain text (the report
    escapes it); ``html`` is markup put in as it is, so whatever text in it comes from data must be escaped.

    ``order`` places the section (summary 0, recipe 10, built-in evaluators 5 to 50, metrics over time 60,
    environment 1000). ``summary`` rows, (plain-text label, escaped HTML value), are also shown in the
    report's summary table: the place for a headline number or a warning a reader must not miss.
    """

    title: str
    html: str
    order: int = 100
    summary: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        """A malformed section is refused where a plugin makes it, so the mistake points at its own code."""
        problem = section_problem(self)
        if problem is not None:
            raise TypeError(f"ReportSection: {problem}")


def section_problem(section: Any) -> str | None:
    """What keeps ``section`` out of a report, in words; None if it is a ReportSection the report can show.

    The one check of a section's fields: made when a ReportSection is created, and again by the report on
    whatever an evaluator's ``report_sections`` returned, which need not be a ReportSection at all.
    """
    if not isinstance(section, ReportSection):
        return f"{describe(section)} is not a ganlab.ReportSection"
    if not isinstance(section.title, str):
        return f"its title is {describe(section.title)}, not a string"
    if not isinstance(section.html, str):
        return f"{section.title!r}: its html is {describe(section.html)}, not a string"
    if not (
        isinstance(section.order, (int, float)) and not isinstance(section.order, bool) and math.isfinite(section.order)
    ):
        return f"{section.title!r}: its order is {describe(section.order)}, not a number"
    if not isinstance(section.summary, (tuple, list)) or not all(
        isinstance(row, (tuple, list)) and len(row) == 2 and all(isinstance(v, str) for v in row)
        for row in section.summary
    ):
        return (
            f"{section.title!r}: its summary is {describe(section.summary)}, not a sequence of "
            "(label, html) pairs of strings"
        )
    return None


def page(title: str, subtitle_html: str, sections: Sequence[ReportSection]) -> str:
    """A complete HTML document: header, a contents bar linking every section, the sections in order."""
    ordered = sorted(sections, key=lambda s: s.order)
    ids = _unique_anchors([s.title for s in ordered])
    nav = "".join(f'<a href="#{i}">{escape(s.title)}</a>' for s, i in zip(ordered, ids))
    body = "".join(f'<section id="{i}"><h2>{escape(s.title)}</h2>{s.html}</section>' for s, i in zip(ordered, ids))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f'<header><h1>{escape(title)}</h1><div class="sub">{subtitle_html}</div></header>\n'
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _unique_anchors(titles: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for title in titles:
        base = anchor(title)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out
