"""Parts per verdict and the yield they give: the one definition the run summary, the SPC counters,
telemetry and the station's OPC UA server share.

Yield of an empty run is undefined (`None`), not 0 % (which would read as "every part failed") nor
100 %. Channels that can only carry a number write NaN for it (SPC snapshot, OPC UA Double).
"""

from __future__ import annotations

from collections.abc import Mapping

from inspection.domain.types import VerdictStatus

__all__ = ["yield_pct", "zero_counts"]


def zero_counts() -> dict[str, int]:
    """{"PASS": 0, "FAIL": 0, "ERROR": 0, "REVIEW": 0}: every verdict present, so readers never miss a key."""
    return {status.value: 0 for status in VerdictStatus}


def yield_pct(counts: Mapping[str, int]) -> float | None:
    """Share of PASS among all parts, in percent; None when no part was inspected."""
    parts = sum(counts.values())
    return 100.0 * counts.get(VerdictStatus.PASS.value, 0) / parts if parts else None
