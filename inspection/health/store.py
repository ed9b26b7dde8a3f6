"""Health tables in the station's SQLite file (beside `inspections`), through the store's connection.

- `health`: a sample of the signals every few parts (raw values and smoothed levels, overall state);
- `health_baseline`: every baseline set (the newest is in force), who set it and from how many parts.
Warnings and alarms go to the store's `events` table (kind = the `HealthKind` code), like every alarm,
so they travel wherever events do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from inspection.errors import StoreError
from inspection.health.baseline import Baseline
from inspection.health.kinds import HealthWarning
from inspection.records.store import Store

__all__ = ["SAMPLE_WAIT_S", "HealthLog"]

SAMPLE_WAIT_S = 0.05
"""How long a health sample waits for a busy database before it is dropped (the verdicts wait; samples don't)."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


class HealthLog:
    """Writes and reads the health tables of one `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        try:
            with store.transaction("the health tables") as db:
                db["health"].create(
                    {"id": int, "time": str, "timestamp_s": float, "part_index": int, "state": str,
                     "signals": str, "smoothed": str}, pk="id", if_not_exists=True)
                db["health"].create_index(["timestamp_s"], if_not_exists=True)
                db["health_baseline"].create(
                    {"id": int, "time": str, "set_at_s": float, "parts": int, "set_by": str, "note": str,
                     "data": str}, pk="id", if_not_exists=True)
        except StoreError as exc:
            raise StoreError(f"cannot create the health tables: {exc}") from None

    def record_sample(self, part: int, values: Mapping[str, float], smoothed: Mapping[str, float], state: str,
                      timestamp_s: float | None = None) -> int:
        ts = time.time() if timestamp_s is None else timestamp_s
        # A trend sample may be dropped: never hold the listeners (console, telemetry) while the database is busy.
        return self.store.insert("health", {"time": _iso(ts), "timestamp_s": ts, "part_index": part,
                                            "state": state, "signals": json.dumps(dict(values)),
                                            "smoothed": json.dumps(dict(smoothed))}, wait_s=SAMPLE_WAIT_S)

    def record_warning(self, warning: HealthWarning) -> None:
        self.store.event(warning.severity.value, warning.kind.value, warning.message, warning.as_dict())

    def samples(self, last: int = 500) -> list[dict[str, float]]:
        """Signal values of the last `last` samples, oldest first."""
        rows = self.store.query("select signals from health order by id desc limit ?", [last])
        return [json.loads(r["signals"]) for r in reversed(rows)]

    def history(self, last: int = 2000) -> list[dict[str, Any]]:
        rows = self.store.query("select part_index, timestamp_s, state, smoothed from health order by id desc "
                                "limit ?", [last])
        return [{**r, "smoothed": json.loads(r["smoothed"])} for r in reversed(rows)]

    def warnings(self, last: int = 50) -> list[dict[str, Any]]:
        return self.store.query("select * from events where kind like 'health_%' order by id desc limit ?", [last])

    def save_baseline(self, baseline: Baseline, set_by: str = "") -> int:
        """Persist `baseline` as the one in force, with an audit row naming who set it."""
        row_id = self.store.insert("health_baseline", {
            "time": _iso(baseline.set_at_s), "set_at_s": baseline.set_at_s, "parts": baseline.parts,
            "set_by": set_by, "note": baseline.note, "data": json.dumps(baseline.as_dict())})
        now = time.time()  # through the hash chain (inspection.security.audit_chain), never a plain insert
        self.store.append_audit({"time": _iso(now), "timestamp_s": now, "username": set_by, "role": "",
                                 "action": "health_baseline", "allowed": 1,
                                 "detail": json.dumps({"id": row_id, "parts": baseline.parts, "note": baseline.note})})
        return row_id

    def load_baseline(self) -> Baseline | None:
        """The baseline in force (the newest), or None when none was ever set."""
        rows = self.store.query("select data from health_baseline order by id desc limit 1")
        return Baseline.from_dict(json.loads(rows[0]["data"])) if rows else None
