"""The line at a glance, read from the central store: what `station fleet status` prints and the
console's Line tab shows. Read-only; the UI calls these functions and never writes SQL itself."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from inspection.central.replicator import connect
from inspection.errors import StoreError

__all__ = ["STALE_S", "StationStatus", "fleet_status"]

STALE_S = 30.0  # a station whose replicator has not checked in for this long is shown as offline

_STATUS_SQL = """
select s.station, s.last_seen, s.model_id, s.recipe, s.alarms, s.info, now() as now,
       coalesce(c.parts, 0), coalesce(c.passed, 0), coalesce(r.recent, 0)
from stations s
left join lateral (select count(*) as parts, count(*) filter (where i.verdict = 'PASS') as passed
                   from inspections i where i.station = s.station and i.time >= now() - make_interval(secs => %s)) c
       on true
left join lateral (select count(*) as recent from inspections i
                   where i.station = s.station and i.time >= now() - make_interval(secs => %s)) r on true
order by s.station
"""


@dataclass(frozen=True, slots=True)
class StationStatus:
    """One station as the central store sees it. `parts` and `yield_pct` cover the last `window_h` hours
    (by the parts' own timestamps), `parts_per_min` the last `rate_window_s`; `last_seen` is when its
    replicator last checked in (the database's clock)."""

    name: str
    parts: int
    passed: int
    parts_per_min: float
    alarms: dict[str, str]
    model_id: str | None
    recipe: str | None
    last_seen: datetime
    seen_ago_s: float
    backlog: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def yield_pct(self) -> float | None:
        return 100.0 * self.passed / self.parts if self.parts else None

    @property
    def online(self) -> bool:
        return self.seen_ago_s <= STALE_S

    def line(self) -> str:
        """`line1  parts=120  yield=97.5%  12.0 parts/min  alarms=0  model=3f9a1c2b7d10  last seen 1 s ago`."""
        yield_text = f"{self.yield_pct:.1f}%" if self.yield_pct is not None else "-"
        state = "" if self.online else "  OFFLINE"
        alarms = f"alarms={len(self.alarms)}" + (f" ({'; '.join(sorted(self.alarms))})" if self.alarms else "")
        backlog = f"  backlog={self.backlog}" if self.backlog else ""
        return (f"{self.name}  parts={self.parts}  yield={yield_text}  {self.parts_per_min:.1f} parts/min  {alarms}  "
                f"model={self.model_id or '-'}  last seen {_ago(self.seen_ago_s)}{backlog}{state}")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_seen"] = self.last_seen.isoformat()
        data["yield_pct"] = None if self.yield_pct is None else round(self.yield_pct, 3)
        data["online"] = self.online
        return data


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def fleet_status(url: str, *, window_h: float = 24.0, rate_window_s: float = 300.0, timeout_s: float = 5.0,
                 password_env: str | None = None) -> list[StationStatus]:
    """Every station in the central store, by name. Raises StoreError when the database cannot be read."""
    try:
        with connect(url, password_env=password_env, connect_timeout_s=timeout_s,
                     statement_timeout_s=max(timeout_s, 5.0), application="station-fleet") as conn:
            rows = conn.execute(_STATUS_SQL, (window_h * 3600.0, rate_window_s)).fetchall()
    except Exception as exc:
        if exc.__class__.__module__.startswith("psycopg"):
            detail = " ".join(str(exc).split())
            if "relation" in detail and "does not exist" in detail:
                detail = "no central schema there yet (no station has replicated to it)"
            raise StoreError(f"cannot read the central store: {detail}") from None
        raise
    out = []
    for name, last_seen, model_id, recipe, alarms, info, now, parts, passed, recent in rows:
        alarms = alarms if isinstance(alarms, dict) else json.loads(alarms or "{}")
        info = info if isinstance(info, dict) else json.loads(info or "{}")
        out.append(StationStatus(name, int(parts), int(passed), 60.0 * int(recent) / rate_window_s, dict(alarms),
                                 model_id, recipe, last_seen.astimezone(UTC),
                                 max(0.0, (now - last_seen).total_seconds()), int(info.get("backlog", 0)), info))
    return out
