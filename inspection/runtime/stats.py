"""Rolling per-stage latency percentiles and per-reason counters (thread-safe), and the summary of a run."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inspection.domain.counts import yield_pct, zero_counts
from inspection.domain.rolling import RollingStats
from inspection.domain.types import STAGES, Inspection, StageTimings
from inspection.errors import StationError

__all__ = ["RollingStats", "RunSummary", "StageStats"]

TRACKED = (*STAGES, "latency")


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


@dataclass
class RunSummary:
    """Counts and rates of one run, printed by the CLI and returned by the API."""

    counts: dict[str, int] = field(default_factory=zero_counts)
    failsafe: int = 0
    store_errors: int = 0
    fault: StationError | None = None  # why the station stopped safely; the CLI exits with its code
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    stage_stats: dict[str, Any] = field(default_factory=dict)  # rolling p50/p95/p99 per stage + counters

    def add(self, inspection: Inspection) -> None:
        self.counts[inspection.verdict.status.value] += 1
        self.failsafe += int(inspection.verdict.failsafe)
        self.latencies_ms.append(inspection.timings.latency_ms)

    @property
    def parts(self) -> int:
        return sum(self.counts.values())

    @property
    def yield_pct(self) -> float | None:
        """None for an empty run (see `inspection.domain.counts`)."""
        return yield_pct(self.counts)

    @property
    def fps(self) -> float:
        return self.parts / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency_percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "parts": self.parts, **{k.lower(): v for k, v in self.counts.items()},
            "failsafe": self.failsafe, "store_errors": self.store_errors,
            "fault": str(self.fault) if self.fault else None,
            "yield_pct": None if self.yield_pct is None else round(self.yield_pct, 2), "fps": round(self.fps, 2),
            "elapsed_s": round(self.elapsed_s, 3),
            "latency_p50_ms": round(self.latency_percentile(50), 2),
            "latency_p95_ms": round(self.latency_percentile(95), 2),
            "latency_p99_ms": round(self.latency_percentile(99), 2),
            **self.stage_stats,
        }
