"""The last N values of one quantity (stage latency, PLC write time) and their percentiles, thread-safe."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

__all__ = ["RollingStats"]


class RollingStats:
    """The last `window` values of one quantity; percentiles computed on demand (not per part)."""

    def __init__(self, window: int = 2000) -> None:
        self._values: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(value)

    def percentiles(self, qs: tuple[float, ...] = (50, 95, 99), method: str = "linear") -> dict[str, float]:
        """`method` as numpy's: "higher" never interpolates, so one slow value in a short window shows in full."""
        with self._lock:
            values = np.fromiter(self._values, dtype=np.float64, count=len(self._values))
        if values.size == 0:
            return {f"p{q:g}": 0.0 for q in qs}
        at = np.percentile(values, qs, method=method)  # type: ignore[call-overload]
        return {f"p{q:g}": round(float(v), 3) for q, v in zip(qs, at, strict=True)}

    def __len__(self) -> int:
        return len(self._values)
