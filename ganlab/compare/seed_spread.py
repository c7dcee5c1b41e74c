"""How much a number moves from seed to seed, and whether a difference between two settings is larger.

A GAN trained twice with different seeds ends at different numbers; a gap between two settings means
something only when it is larger than that. Each group of runs that differ only in their seed gets its
mean, its sample standard deviation and a percentile-bootstrap interval of its mean; a difference between
two groups is judged by the bootstrap interval of the difference of their means. Numpy only, seeded, so
the same runs always give the same intervals.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

RESAMPLES = 10_000
"""Bootstrap resamples per interval."""

CONFIDENCE = 0.95
"""The share of the bootstrap distribution an interval covers (its 2.5th to 97.5th percentile)."""

BOOTSTRAP_SEED = 0
"""Every interval draws its resamples from this seed: the same values always give the same interval."""


@dataclasses.dataclass(frozen=True)
class Spread:
    """One quantity over the seeds of one group: ``n`` finite values, their mean, their standard deviation
    (ddof=1; NaN for a single value) and the bootstrap interval of the mean (NaN for a single value: one
    seed says nothing about the next)."""

    n: int
    mean: float
    std: float
    low: float
    high: float


@dataclasses.dataclass(frozen=True)
class Difference:
    """``mean(b) - mean(a)`` with the bootstrap interval of that difference; ``outside`` is True when the
    interval excludes 0 (the gap is larger than the seeds explain), False when it includes 0, None when a
    group has fewer than two values and the seed spread is unknown."""

    value: float
    low: float
    high: float
    outside: bool | None


def finite(values: Sequence[float | None]) -> np.ndarray:
    """The values that are numbers and finite (a diverged run's NaN loss is not a seed's result)."""
    array = np.array([math.nan if v is None else v for v in values], dtype=float)
    return array[np.isfinite(array)]


def _tails() -> tuple[float, float]:
    return 100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2


def bootstrap_means(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The means of :data:`RESAMPLES` resamples of ``values`` with replacement."""
    picks = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    return values[picks].mean(axis=1)


def spread(values: Sequence[float | None]) -> Spread:
    kept = finite(values)
    if kept.size == 0:
        return Spread(0, math.nan, math.nan, math.nan, math.nan)
    if kept.size == 1:
        return Spread(1, float(kept[0]), math.nan, math.nan, math.nan)
    low, high = np.percentile(bootstrap_means(kept, np.random.default_rng(BOOTSTRAP_SEED)), _tails())
    return Spread(int(kept.size), float(kept.mean()), float(kept.std(ddof=1)), float(low), float(high))


def difference(a: Sequence[float | None], b: Sequence[float | None]) -> Difference:
    """Group ``b`` against group ``a``: each resampled on its own, the difference of the means taken per
    resample, and its percentile interval."""
    a, b = finite(a), finite(b)
    if a.size == 0 or b.size == 0:
        return Difference(math.nan, math.nan, math.nan, None)
    value = float(b.mean() - a.mean())
    if a.size < 2 or b.size < 2:
        return Difference(value, math.nan, math.nan, None)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    low, high = np.percentile(bootstrap_means(b, rng) - bootstrap_means(a, rng), _tails())
    return Difference(value, float(low), float(high), bool(low > 0 or high < 0))
