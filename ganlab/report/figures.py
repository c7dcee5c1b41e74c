"""Matplotlib/seaborn figures rendered to PNG bytes, ready to embed in a page.

Figures are made with ``matplotlib.figure.Figure`` and rendered by the Agg canvas directly, never through
pyplot: no global figure list to leak into, no display needed, nothing to close, and safe to call from a
training process. PNGs are written without metadata so that the same data always gives the same bytes,
which keeps a rebuilt report identical to the one written at the end of the run.

matplotlib and seaborn are imported when the first figure is drawn, not when this module is: the
built-in hooks import it, and loading plugins (every ``ganlab`` command) must stay quick.
"""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from .html import image

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110
COLORS = {
    "generator": "#d1495b", "discriminator": "#00798c",
    "real": "#2e933c", "fake": "#e07a1f", "epoch": "#8c959f",
}
"""One colour per role, the same in every figure: G and D losses, real and generated images."""


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


def png_bytes(fig: Figure) -> bytes:
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
