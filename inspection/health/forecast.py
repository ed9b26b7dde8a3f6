"""Forecast: a robust linear trend of a smoothed signal and when it would cross its limit.

Theil–Sen (median of pairwise slopes) on the recent EWMA history: a few odd parts do not bend it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["parts_to_limit", "theil_sen"]


def theil_sen(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the Theil–Sen line through (x, y)."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.size < 2:
        raise ValueError(f"theil_sen: expected two equal-length series of at least 2 points, got {xs.size}, {ys.size}")
    i, j = np.triu_indices(xs.size, k=1)
    dx = xs[j] - xs[i]
    keep = dx != 0
    if not keep.any():
        raise ValueError("theil_sen: all x values are equal; no slope")
    slope = float(np.median((ys[j] - ys[i])[keep] / dx[keep]))
    intercept = float(np.median(ys - slope * xs))
    return slope, intercept


def parts_to_limit(x: Sequence[float], y: Sequence[float], low: float | None, high: float | None,
                   min_points: int = 8) -> float | None:
    """Parts (x units) from the last point until the trend line crosses a limit; 0 if already past it;
    None when there is no trend towards a limit (flat, moving away) or too few points."""
    if len(x) < min_points:
        return None
    slope, intercept = theil_sen(x, y)
    now = float(x[-1])
    level = slope * now + intercept
    if (high is not None and level >= high) or (low is not None and level <= low):
        return 0.0
    if slope > 0 and high is not None:
        return (high - level) / slope
    if slope < 0 and low is not None:
        return (low - level) / slope
    return None
