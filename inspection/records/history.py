"""Search the verdict log (time range, verdict, defect class, part id) and export what was found.

Used by the console's history view; pure SQL over the store, no Qt.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspection.domain.types import VerdictStatus
from inspection.records.store import Store

__all__ = ["HistoryFilter", "detections_of", "export_csv", "find_inspection", "part_views", "search"]


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """All fields optional; `part` matches part ids/keys containing it (case-insensitive)."""

    since_s: float | None = None
    until_s: float | None = None
    verdict: VerdictStatus | None = None
    class_name: str | None = None
    part: str | None = None
    overridden_only: bool = False

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if self.since_s is not None:
            clauses.append("timestamp_s >= ?")
            params.append(self.since_s)
        if self.until_s is not None:
            clauses.append("timestamp_s <= ?")
            params.append(self.until_s)
        if self.since_s is not None and self.until_s is not None and self.until_s < self.since_s:
            raise ValueError("history filter: the end of the time range is before its start")
        if self.verdict is not None:
            clauses.append("verdict = ?")
            params.append(VerdictStatus(self.verdict).value)
        if self.class_name:
            clauses.append("id in (select inspection_id from detections where class_name = ? and counted = 1)")
            params.append(self.class_name)
        if self.part:
            clauses.append("lower(part_key) like ?")
            params.append(f"%{self.part.lower()}%")
        if self.overridden_only:
            clauses.append("id in (select inspection_id from overrides)")
        return (" and ".join(clauses) or "1 = 1"), params


def search(store: Store, flt: HistoryFilter = HistoryFilter(), limit: int = 500) -> list[dict[str, Any]]:
    """Newest first; each row is the inspections row plus `override` (latest override status or None)."""
    where, params = flt.where()
    rows = store.query(
        f"select i.*, (select o.status || ':' || o.new_verdict from overrides o where o.inspection_id = i.id "
        f"order by o.id desc limit 1) as override from inspections i where {where} order by i.id desc limit ?",
        [*params, limit])
    for row in rows:
        row["reasons"] = _reasons(row["reasons"])
    return rows


def _reasons(raw: str | None) -> list[dict[str, Any]]:
    """One row's reasons; a damaged value is shown as such, never the reason the whole table stays empty."""
    try:
        reasons = json.loads(raw or "[]")
        if isinstance(reasons, list) and all(isinstance(r, dict) and "message" in r for r in reasons):
            return reasons
    except ValueError:
        pass
    return [{"code": "unreadable", "message": f"(reasons unreadable in the log: {str(raw)[:80]!r})"}]


def find_inspection(store: Store, part_key: str, timestamp_s: float) -> int | None:
    """The log row id of a part seen live (the pipeline does not hand out row ids)."""
    rows = store.query("select id from inspections where part_key = ? and abs(timestamp_s - ?) < 0.0005 "
                       "order by id desc limit 1", [part_key, timestamp_s])
    return int(rows[0]["id"]) if rows else None


def detections_of(store: Store, inspection_id: int) -> list[dict[str, Any]]:
    """The logged detections of one part. A row whose box, confidence or outline is not numbers (a damaged or
    hand-edited log) comes back with `valid` False, to be listed but not drawn."""
    rows = store.query("select * from detections where inspection_id = ? order by id", [inspection_id])
    for row in rows:
        try:
            polygon = json.loads(row["polygon"]) if row["polygon"] else None
            row["polygon"] = [(float(x), float(y)) for x, y in polygon] if polygon else None
        except (ValueError, TypeError):
            row["polygon"] = None
        row["valid"] = all(isinstance(row.get(k), int | float) and math.isfinite(row[k])
                           for k in ("confidence", "x1", "y1", "x2", "y2"))
    return rows


def export_csv(store: Store, out: Path, flt: HistoryFilter = HistoryFilter()) -> int:
    """Write the matching parts as CSV; returns the number of rows."""
    where, params = flt.where()
    return store.export_csv(Path(out), where, params)


def part_views(store: Store, inspection_id: int, window_s: float = 5.0) -> list[dict[str, Any]]:
    """Every logged view of the part that row `inspection_id` belongs to, by camera (one row: one view).

    The views of one part share its part id; without one, the trigger's sequence number on the other
    cameras within `window_s` of it. (One camera at N positions: its consecutive frames, not grouped here.)"""
    rows = store.query("select * from inspections where id = ?", [inspection_id])
    if not rows:
        return []
    row = rows[0]
    if row["part_id"]:
        views = store.query("select * from inspections where part_id = ? and abs(timestamp_s - ?) <= ? "
                            "order by camera_id, id", [row["part_id"], row["timestamp_s"], window_s])
    else:
        views = store.query("select * from inspections where sequence = ? and part_id is null and "
                            "abs(timestamp_s - ?) <= ? order by camera_id, id",
                            [row["sequence"], row["timestamp_s"], window_s])
    by_camera: dict[str, dict[str, Any]] = {}
    t0 = row["timestamp_s"]
    for view in views:  # the nearest in time per camera
        best = by_camera.get(view["camera_id"])
        if best is None or abs(view["timestamp_s"] - t0) < abs(best["timestamp_s"] - t0):
            by_camera[view["camera_id"]] = view
    return [by_camera[c] for c in sorted(by_camera)]
