"""Rolling per-stage latency percentiles and per-reason counters, safe to read from any thread."""

from __future__ import annotations

import threading
from collections import Counter, deque

import numpy as np

from inspection.domain.types import STAGES, StageTimings

__all__ = ["RollingStats", "StageStats"]

TRACKED = (*STAGES, "latency")


class RollingStats:
    """The last `window` values of one quantity; percentiles computed on demand (not per part)."""

    def __init__(self, window: int = 2000) -> None:
        self._values: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(value)

    def percentiles(self, qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
        with self._lock:
            values = np.fromiter(self._values, dtype=np.float64, count=len(self._values))
        if values.size == 0:
            return {f"p{q:g}": 0.0 for q in qs}
        return {f"p{q:g}": round(float(v), 3) for q, v in zip(qs, np.percentile(values, qs), strict=True)}

    def __len__(self) -> int:
        return len(self._values)


class StageStats:
    """Rolling p50/p95/p99 of every stage (acquire … output, frame→verdict latency) and reason counters."""

    def __init__(self, window: int = 2000) -> None:
        self.stages = {name: RollingStats(window) for name in TRACKED}
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, timings: StageTimings) -> None:
        for name in TRACKED:
            self.stages[name].add(getattr(timings, f"{name}_ms"))

    def count(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.counters[reason] += n

    def snapshot(self) -> dict[str, object]:
        """{'stages_ms': {stage: {p50, p95, p99}}, 'counters': {...}} — what the CLI prints and the store keeps."""
        with self._lock:
            counters = dict(self.counters)
        return {"stages_ms": {name: stats.percentiles() for name, stats in self.stages.items()},
                "counters": counters}
