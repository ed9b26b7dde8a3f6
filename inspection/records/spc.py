"""Statistical process control from the verdict log, and the live counters the console shows.

- p-chart of the failure fraction per subgroup (consecutive parts), 3-sigma limits per subgroup size;
- Pareto of counted defect classes;
- trend per class: counted defects per part in time buckets.

The console only draws what these return. ERROR parts (not inspected) are left out of the failure
fraction: they say nothing about the process, and they are counted on their own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from inspection.domain.counts import yield_pct, zero_counts
from inspection.domain.types import Inspection
from inspection.records.store import Store

__all__ = [
    "ClassTrend",
    "LiveCounters",
    "PChart",
    "ParetoBar",
    "class_trends",
    "p_chart",
    "p_chart_from_counts",
    "pareto",
]


@dataclass(frozen=True, slots=True)
class PChart:
    """`p[i]` = failed / inspected in subgroup i; limits are per subgroup (sizes may differ)."""

    p: np.ndarray
    n: np.ndarray
    centre: float
    ucl: np.ndarray
    lcl: np.ndarray
    start_s: np.ndarray  # time of the first part of each subgroup

    @property
    def out_of_control(self) -> np.ndarray:
        """Indices of subgroups outside their control limits."""
        return np.flatnonzero((self.p > self.ucl) | (self.p < self.lcl))

    def __len__(self) -> int:
        return int(self.p.size)


def p_chart_from_counts(failed: np.ndarray | list[int], inspected: np.ndarray | list[int],
                        start_s: np.ndarray | list[float] | None = None) -> PChart:
    """Classic p-chart: p̄ = Σfailed / Σinspected, limits p̄ ± 3·sqrt(p̄(1-p̄)/nᵢ) clipped to [0, 1]."""
    d = np.asarray(failed, dtype=np.float64)
    n = np.asarray(inspected, dtype=np.float64)
    if d.shape != n.shape:
        raise ValueError(f"p_chart: failed and inspected differ in length ({d.size} vs {n.size})")
    if np.any(n <= 0) or np.any(d < 0) or np.any(d > n):
        raise ValueError("p_chart: expected 0 <= failed <= inspected and inspected > 0 in every subgroup")
    centre = float(d.sum() / n.sum()) if n.size else 0.0
    sigma = np.sqrt(centre * (1.0 - centre) / n) if n.size else n
    starts = np.asarray(start_s if start_s is not None else np.arange(n.size), dtype=np.float64)
    return PChart(d / n if n.size else d, n, centre, np.minimum(1.0, centre + 3 * sigma),
                  np.maximum(0.0, centre - 3 * sigma), starts)


def p_chart(store: Store, subgroup_size: int = 25, since_s: float | None = None,
            max_subgroups: int = 2000) -> PChart:
    """p-chart over the log: subgroups of `subgroup_size` consecutive inspected (non-ERROR) parts.
    A trailing partial subgroup is kept when it has at least half the size."""
    if subgroup_size < 1:
        raise ValueError(f"subgroup_size: expected >= 1, got {subgroup_size}")
    rows = store.query(
        "select timestamp_s, verdict from inspections where verdict != 'ERROR' and timestamp_s >= ? "
        "order by id desc limit ?", [since_s or 0.0, subgroup_size * max_subgroups])
    rows.reverse()
    failed = np.fromiter((r["verdict"] in ("FAIL", "REVIEW") for r in rows), dtype=np.float64, count=len(rows))
    times = np.fromiter((r["timestamp_s"] for r in rows), dtype=np.float64, count=len(rows))
    groups = [(i, min(i + subgroup_size, len(rows))) for i in range(0, len(rows), subgroup_size)]
    groups = [(a, b) for a, b in groups if b - a >= max(1, subgroup_size // 2)]
    return p_chart_from_counts([failed[a:b].sum() for a, b in groups], [b - a for a, b in groups],
                               [times[a] for a, _ in groups])


@dataclass(frozen=True, slots=True)
class ParetoBar:
    class_name: str
    count: int
    cumulative_pct: float


def pareto(store: Store, since_s: float | None = None) -> list[ParetoBar]:
    """Counted defects per class, most frequent first, with the cumulative percentage."""
    rows = store.query(
        "select d.class_name as name, count(*) as n from detections d join inspections i on i.id = d.inspection_id "
        "where d.counted = 1 and i.timestamp_s >= ? group by d.class_name order by n desc, name",
        [since_s or 0.0])
    total = sum(r["n"] for r in rows)
    bars, running = [], 0
    for r in rows:
        running += r["n"]
        bars.append(ParetoBar(r["name"], int(r["n"]), 100.0 * running / total))
    return bars


@dataclass(frozen=True, slots=True)
class ClassTrend:
    class_name: str
    bucket_start_s: np.ndarray
    defects_per_part: np.ndarray


def class_trends(store: Store, bucket_s: float = 600.0, since_s: float | None = None) -> list[ClassTrend]:
    """Counted defects per inspected part, per class, in time buckets of `bucket_s` seconds."""
    if bucket_s <= 0:
        raise ValueError(f"bucket_s: expected > 0, got {bucket_s}")
    since = since_s or 0.0
    parts = store.query(
        "select cast(timestamp_s / ? as integer) as b, count(*) as n from inspections "
        "where timestamp_s >= ? and verdict != 'ERROR' group by b order by b", [bucket_s, since])
    if not parts:
        return []
    buckets = np.array([r["b"] for r in parts], dtype=np.int64)
    sizes = np.array([r["n"] for r in parts], dtype=np.float64)
    index = {int(b): i for i, b in enumerate(buckets)}
    rows = store.query(
        "select d.class_name as name, cast(i.timestamp_s / ? as integer) as b, count(*) as n "
        "from detections d join inspections i on i.id = d.inspection_id "
        "where d.counted = 1 and i.timestamp_s >= ? and i.verdict != 'ERROR' group by name, b",
        [bucket_s, since])
    counts: dict[str, np.ndarray] = {}
    for r in rows:
        counts.setdefault(r["name"], np.zeros(len(buckets)))[index[int(r["b"])]] = r["n"]
    return [ClassTrend(name, buckets * bucket_s, c / sizes) for name, c in sorted(counts.items())]


@dataclass
class LiveCounters:
    """Counts, yield and rate of the current shift, updated per part from any thread."""

    rate_window_s: float = 60.0
    counts: dict[str, int] = field(default_factory=zero_counts)
    failsafe: int = 0
    last_latency_ms: float = 0.0
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    _latency_sum_ms: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, inspection: Inspection, now_s: float | None = None) -> None:
        now = time.monotonic() if now_s is None else now_s
        with self._lock:
            self.counts[inspection.verdict.status.value] += 1
            self.failsafe += int(inspection.verdict.failsafe)
            self.last_latency_ms = inspection.timings.latency_ms
            self._latency_sum_ms += inspection.timings.latency_ms
            self._recent.append(now)

    def reset(self) -> None:
        with self._lock:
            self.counts = zero_counts()
            self.failsafe, self.last_latency_ms, self._latency_sum_ms = 0, 0.0, 0.0
            self._recent.clear()

    def snapshot(self, now_s: float | None = None) -> dict[str, float]:
        """inspected, pass, fail, error, review, failsafe, yield_pct, parts_per_min, latency_ms, mean_latency_ms."""
        now = time.monotonic() if now_s is None else now_s
        with self._lock:
            while self._recent and self._recent[0] < now - self.rate_window_s:
                self._recent.popleft()
            inspected = sum(self.counts.values())
            recent = len(self._recent)
            span = now - self._recent[0] if recent > 1 else 0.0
            rate = 60.0 * (recent - 1) / span if span > 0 else 0.0
            return {
                "inspected": inspected, **{k.lower(): v for k, v in self.counts.items()},
                "failsafe": self.failsafe,
                "yield_pct": math.nan if (share := yield_pct(self.counts)) is None else share,
                "parts_per_min": rate, "latency_ms": self.last_latency_ms,
                "mean_latency_ms": self._latency_sum_ms / inspected if inspected else 0.0,
            }
