"""Matplotlib/seaborn figures rendered to PNG bytes, ready to embed in a page.

Figures are made with ``matplotlib.figure.Figure`` and rendered by the Agg canvas directly, never through
pyplot: no global figure list to leak into, no display needed, nothing to close, and safe to call from a
training process. PNGs are written without metadata so that the same data always gives the same bytes,
which keeps a rebuilt report identical to the one written at the end of the run.

matplotlib and seaborn are imported when the first figure is drawn, not when this module is: the
built-in evaluators import it, and loading plugins (every ``ganlab`` command) must stay quick.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .html import image

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110
COLORS = {
    "generator": "#d1495b",
    "discriminator": "#00798c",
    "real": "#2e933c",
    "fake": "#e07a1f",
    "epoch": "#8c959f",
    "logged": "#5c4d7d",
}
"""One colour per role, the same in every figure: G and D losses, real and generated images, the other
numbers a run logged."""


@contextlib.contextmanager
def plot(width: float = 9.0, height: float = 3.6, **subplots: Any) -> Iterator[tuple[Figure, Any]]:
    """A figure with ``fig.subplots(**subplots)`` axes, drawn in the report's seaborn style."""
    import seaborn as sns
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.85):
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(**subplots)
        yield fig, axes


def show_text_literally(fig: Figure) -> None:
    """Draw every title, label, legend entry and note of ``fig`` as the characters it holds.

    Run, metric and evaluator names and recipe values come from users and plugins; matplotlib would read
    '$x^2$' in them as mathematics (and fail on an odd number of '$'), or hand them to LaTeX. Tick labels
    are matplotlib's own text and keep its formatting (mathematics on a log axis).
    """
    from matplotlib.text import Text

    texts = fig.findobj(Text)  # before the ticks are listed: finding them makes the axes' ticks
    axes = [axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)]
    ticks = {
        id(text)
        for axis in axes
        for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
        for text in (tick.label1, tick.label2)
    }
    ticks |= {id(axis.offsetText) for axis in axes}
    for text in texts:
        if id(text) not in ticks:
            text.set_usetex(False)
            text.set_parse_math(False)


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes, its text shown literally (see :func:`show_text_literally`)."""
    show_text_literally(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def figure_image(fig: Figure, alt: str) -> str:
    """The figure as an embedded ``<img>``."""
    return image(png_bytes(fig), "image/png", alt)


def mark_epochs(ax: Any, boundaries: list[float]) -> None:
    """Thin vertical lines where each epoch ended, so curves can be read against training progress."""
    for x in boundaries:
        ax.axvline(x, color=COLORS["epoch"], linewidth=0.7, linestyle=":", zorder=0)


def legend_below(fig: Figure, ax: Any) -> None:
    """The legend under the plot, in one row, where it can never hide a curve."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)


def finite(values: Any) -> np.ndarray:
    """The finite entries of ``values`` (a diverged run logs NaN and inf, which plots cannot place)."""
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


RUN_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
"""One colour per run on a comparison page (matplotlib's tab10), in the order the runs were given."""


def run_colors(count: int) -> list[str]:
    """``count`` distinct colours: tab10 while it lasts, evenly spaced hues for a larger sweep."""
    if count <= len(RUN_COLORS):
        return list(RUN_COLORS[:count])
    import seaborn as sns

    return list(sns.color_palette("husl", count).as_hex())
