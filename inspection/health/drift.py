"""Drift detectors on standardised values: EWMA with control limits, two-sided CUSUM, and the
population stability index of a windowed distribution against a reference.

All work on z = (x - baseline mean) / baseline std, clipped to ±`clip` so one odd part cannot alarm.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

__all__ = ["Cusum", "Ewma", "PsiWindow", "ewma_limit", "psi"]


def ewma_limit(lam: float, width: float) -> float:
    """Asymptotic control limit of an EWMA of unit-variance values: width × sqrt(λ / (2 − λ))."""
    if not 0.0 < lam <= 1.0:
        raise ValueError(f"EWMA lambda: expected 0 < lambda <= 1, got {lam}")
    return width * math.sqrt(lam / (2.0 - lam))


class Ewma:
    """Exponentially weighted moving average; starts at `start` (0 for z-values: the baseline)."""

    __slots__ = ("lam", "value")

    def __init__(self, lam: float, start: float = 0.0) -> None:
        if not 0.0 < lam <= 1.0:
            raise ValueError(f"EWMA lambda: expected 0 < lambda <= 1, got {lam}")
        self.lam = lam
        self.value = start

    def update(self, x: float) -> float:
        self.value += self.lam * (x - self.value)
        return self.value


class Cusum:
    """Two-sided tabular CUSUM (Page): signals a sustained shift of more than `k` (in σ) once a side
    passes `h`. `high` and `low` are the two accumulated sums (both >= 0)."""

    __slots__ = ("h", "high", "k", "low")

    def __init__(self, k: float = 0.5, h: float = 8.0) -> None:
        if k < 0 or h <= 0:
            raise ValueError(f"CUSUM: expected k >= 0 and h > 0, got k={k}, h={h}")
        self.k, self.h = k, h
        self.high = self.low = 0.0

    def update(self, z: float) -> int:
        """+1 when the upper sum signals, -1 the lower, 0 neither."""
        self.high = max(0.0, self.high + z - self.k)
        self.low = max(0.0, self.low - z - self.k)
        if self.high > self.h:
            return 1
        if self.low > self.h:
            return -1
        return 0

    def reset(self) -> None:
        self.high = self.low = 0.0


def psi(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index of two binned distributions (shares or counts; same bins)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.shape != cur.shape or ref.ndim != 1:
        raise ValueError(f"psi: expected two 1-D histograms of the same bins, got {ref.shape} and {cur.shape}")
    ref = np.clip(ref / max(ref.sum(), eps), eps, None)
    cur = np.clip(cur / max(cur.sum(), eps), eps, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


class PsiWindow:
    """PSI of the last `window` values against a reference sample, binned by the reference's deciles
    (so every bin holds ~10 % of the reference; ties, like many zero confidences, merge bins)."""

    def __init__(self, reference: Sequence[float], window: int = 500, bins: int = 10) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.size < bins * 5:
            raise ValueError(f"PSI reference: need at least {bins * 5} values, got {ref.size}")
        self.edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
        self.reference = np.bincount(self._bin(ref), minlength=self.edges.size + 1).astype(np.float64)
        self.counts = np.zeros_like(self.reference)
        self.recent: deque[int] = deque(maxlen=window)

    def _bin(self, x: np.ndarray | float) -> np.ndarray:
        return np.searchsorted(self.edges, x, side="right")

    def update(self, x: float) -> float | None:
        """Add one value; the PSI once the window is full (None before: too few values to judge)."""
        if len(self.recent) == self.recent.maxlen:
            self.counts[self.recent[0]] -= 1
        b = int(self._bin(x))
        self.recent.append(b)
        self.counts[b] += 1
        if len(self.recent) < (self.recent.maxlen or 0):
            return None
        return psi(self.reference, self.counts)
