"""The report's view of every number metrics.jsonl holds beyond the step record's own: the learning rates,
an augmentation's probability, each regularizer's term, whatever a plugin adds.

Nothing here knows what a number means: each is found as a column of the log and drawn under its key, so a
plugin's new number shows up without a change here. A number that never changed (a learning rate without
a schedule) would make a flat, empty-looking panel; it is stated in one line of text instead.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..contracts.engine import ReportSection
from ..page import html as h
from ..page.figures import COLORS, figure_image, mark_epochs, plot
from .series import epoch_ends, extra_keys, smooth

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = 3
LOG_SPAN = 100.0
"""A number whose positive values span this factor or more is drawn on a log axis (a decaying rate),
where its late values would otherwise lie flat on zero."""


def logged_numbers_section(frame: pd.DataFrame, window: int, order: int) -> ReportSection | None:
    """One small panel per logged number that changed, raw and smoothed over ``window`` steps like the loss
    curves; None when the log has no number beyond the step record's own."""
    keys = extra_keys(frame)
    if not keys:
        return None
    values = {key: frame[key].to_numpy(dtype=float) for key in keys}
    finite = {key: v[np.isfinite(v)] for key, v in values.items()}
    varying = [key for key in keys if finite[key].size and finite[key].min() != finite[key].max()]
    constant = [key for key in keys if finite[key].size and key not in varying]
    never = [key for key in keys if not finite[key].size]
    body = ""
    if varying:
        body += h.figure(
            _panels(frame, varying, window),
            f"One panel per number: {', '.join(varying)}. Faint: every step. Bold: moving "
            f"average over {window} step{'s' if window > 1 else ''}. Dotted lines: ends of "
            "epochs. A number whose values span a factor of 100 or more is on a log axis.",
        )
    rows = [(key, h.escape(f"{h.format_value(float(finite[key][0]))} at every step")) for key in constant]
    rows += [(key, h.escape("never a finite number")) for key in never]
    if rows:
        body += h.key_values(rows)
    return ReportSection("Logged numbers", body, order=order)


def _panels(frame: pd.DataFrame, keys: list[str], window: int) -> str:
    rows = math.ceil(len(keys) / COLUMNS)
    columns = min(len(keys), COLUMNS)
    color = COLORS["logged"]
    with plot(width=3.2 * columns, height=2.5 * rows, nrows=rows, ncols=columns, squeeze=False) as (fig, axes):
        for ax, key in zip(axes.flat, keys):
            ax.plot(frame["step"], frame[key], color=color, alpha=0.3, linewidth=0.8)
            ax.plot(frame["step"], smooth(frame[key], window), color=color, linewidth=1.6)
            positive = frame[key][np.isfinite(frame[key]) & (frame[key] > 0)]
            if positive.size == frame[key].notna().sum() and positive.max() >= LOG_SPAN * positive.min():
                ax.set_yscale("log")
            mark_epochs(ax, epoch_ends(frame))
            ax.set_title(key)
            ax.set_xlabel("step")
        for ax in list(axes.flat)[len(keys) :]:
            ax.set_visible(False)
        return figure_image(fig, "per step: " + ", ".join(keys))
