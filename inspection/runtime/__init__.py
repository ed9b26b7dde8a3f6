"""Concurrent station runtime: stages on their own threads, bounded queues, deadlines, rolling stats.

`Runtime` runs parts through camera → prepare → infer → judge/output → recorder; `Station.run`
(inspection.runtime.pipeline) delegates to it. `StageStats` keeps rolling p50/p95/p99 per stage.
"""

from inspection.runtime.engine import Runtime, RuntimeOptions, SourceSpec
from inspection.runtime.stats import RollingStats, StageStats

__all__ = ["RollingStats", "Runtime", "RuntimeOptions", "SourceSpec", "StageStats"]
