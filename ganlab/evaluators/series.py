"""Series over training: the per-step log (metrics.jsonl) as a pandas table, the smoothing every curve of
it uses, and the choice of a few evenly spread measurements when there are too many to show."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..rundir.records import METRIC_LABELS, STEP_KEYS
from ..rundir.rundir import RunDir

if TYPE_CHECKING:
    import pandas as pd


def metrics_frame(run_dir: RunDir) -> pd.DataFrame:
    """metrics.jsonl with non-finite values as NaN (plots and rolling means skip NaN, not inf): the step
    record's own columns, then each :func:`extra_keys` column (NaN on the steps that lack it)."""
    import pandas as pd  # on first use: see ganlab.page.figures

    records = run_dir.read_metrics()
    extras = list(dict.fromkeys(key for record in records for key in record if key not in STEP_KEYS))
    keys = [*METRIC_LABELS, *extras]
    frame = pd.DataFrame(records, columns=["step", "epoch", *METRIC_LABELS, "time", *extras])
    frame[keys] = frame[keys].astype(float).replace([np.inf, -np.inf], np.nan)
    return frame


def extra_keys(frame: pd.DataFrame) -> list[str]:
    """The columns of a :func:`metrics_frame` beyond the step record's own: the numbers levers and plugins
    logged, in the order they first appear."""
    return [key for key in frame.columns if key not in STEP_KEYS]


def auto_window(steps: int, window: int = 0) -> int:
    """``window`` if set, else about a fiftieth of the run: smooth enough to read, short enough to follow."""
    return window if window > 0 else max(1, steps // 50)


def smooth(values: pd.Series, window: int) -> pd.Series:
    """Centred moving average; the ends use the steps they have, so the curve spans the whole run."""
    return values.rolling(window, center=True, min_periods=1).mean()


def epoch_ends(frame: pd.DataFrame) -> list[float]:
    """Steps at which an epoch ended (the last one excluded: that is the end of the plot anyway)."""
    if frame.empty:
        return []
    last_steps = frame.groupby("epoch")["step"].max().sort_index()
    return [float(s) for s in last_steps.iloc[:-1]]


def spread(items: list, count: int) -> list:
    """At most ``count`` items, evenly spread, always keeping the first and the last."""
    if count <= 0:
        return []
    if len(items) <= count:
        return list(items)
    picks = np.unique(np.linspace(0, len(items) - 1, count).round().astype(int))
    return [items[i] for i in picks]
