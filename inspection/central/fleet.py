"""The line at a glance, read from the central store: what `station fleet status` and `station fleet health`
print and the console's Line tab shows. Read-only; the UI calls these functions and never writes SQL itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from inspection.central.replicator import connect
from inspection.errors import ConfigError, StoreError

__all__ = ["HEALTH_WINDOW_S", "STALE_S", "FleetHealthWarning", "StationStatus", "fleet_health", "fleet_status"]

STALE_S = 30.0  # a station whose replicator has not checked in for this long is shown as offline
HEALTH_WINDOW_S = 3600.0  # `fleet status` counts a station's health warnings of the last hour

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

# Per station: the overall state of its newest health sample in the window, and its health warnings
# (events of a `health_…` kind, through the view `health_warnings`) of the last HEALTH_WINDOW_S.
_HEALTH_STATUS_SQL = """
select s.station, hs.state, coalesce(hc.n, 0), hn.time, hn.severity, hn.kind, hn.message
from stations s
left join lateral (select h.state from health h where h.station = s.station
                   and h.time >= now() - make_interval(secs => %(window)s)
                   order by h.time desc, h.local_id desc limit 1) hs on true
left join lateral (select count(*) as n from health_warnings w where w.station = s.station
                   and w.time >= now() - make_interval(secs => %(health)s)) hc on true
left join lateral (select w.time, w.severity, w.kind, w.message from health_warnings w where w.station = s.station
                   and w.time >= now() - make_interval(secs => %(health)s)
                   order by w.time desc, w.local_id desc limit 1) hn on true
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
    health_state: str | None = None  # overall state of the newest health sample in the window (None: no sample)
    health_warnings: int = 0  # health warnings and alarms in the last HEALTH_WINDOW_S
    health_newest: dict[str, str] | None = None  # the newest of them: time, severity, kind, message

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
                f"model={self.model_id or '-'}  last seen {_ago(self.seen_ago_s)}{self._health()}{backlog}{state}")

    def _health(self) -> str:
        summary = self.health_summary()
        return f"  health={summary}" if summary else ""

    def health_summary(self) -> str:
        """`warning (2 warnings in 1 h, newest health_focus: focus: sharpness 812 … drifting.)`; "" when the
        station sent no health (the CLI line and the console's Line tab show the same words)."""
        if self.health_state is None and not self.health_warnings:
            return ""
        text = self.health_state or "-"
        if self.health_warnings and self.health_newest:
            newest = self.health_newest
            head = newest["message"].partition(" Likely cause:")[0]  # display only: the rest is in --json
            text += (f" ({self.health_warnings} warning{'s' if self.health_warnings > 1 else ''} in "
                     f"{HEALTH_WINDOW_S / 3600:.0f} h, newest {newest['kind']}: {head})")
        return text

    @property
    def severity(self) -> str | None:
        """How `fleet status` and the console's Line tab colour the station: "alarm" (red) for active alarms or
        health `alarm`, "warning" (yellow) when offline or with health warnings, None otherwise."""
        if self.alarms or self.health_state == "alarm":
            return "alarm"
        return "warning" if not self.online or self.needs_attention else None

    @property
    def needs_attention(self) -> bool:
        """Health past its limit, or health warnings in the last hour (the CLI shows the line in colour)."""
        return self.health_state == "alarm" or self.health_warnings > 0

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


@contextmanager
def _reading(url: str, timeout_s: float, password_env: str | None) -> Iterator[Any]:
    """A read connection to the central store; psycopg errors become StoreError with what to do."""
    try:
        with connect(url, password_env=password_env, connect_timeout_s=timeout_s,
                     statement_timeout_s=max(timeout_s, 5.0), application="station-fleet") as conn:
            yield conn
    except Exception as exc:
        if exc.__class__.__module__.startswith("psycopg"):
            detail = " ".join(str(exc).split())
            if "relation" in detail and "does not exist" in detail:
                detail = "no central schema there yet (no station has replicated to it)"
            raise StoreError(f"cannot read the central store: {detail}") from None
        raise


def _has_health(conn: Any) -> bool:
    """False on a central store no station of the health release has migrated yet (schema version 1)."""
    return bool(conn.execute("select to_regclass('health_warnings') is not null").fetchone()[0])


def fleet_status(url: str, *, window_h: float = 24.0, rate_window_s: float = 300.0, timeout_s: float = 5.0,
                 password_env: str | None = None) -> list[StationStatus]:
    """Every station in the central store, by name. Raises StoreError when the database cannot be read."""
    health: dict[str, tuple[Any, ...]] = {}
    with _reading(url, timeout_s, password_env) as conn:
        rows = conn.execute(_STATUS_SQL, (window_h * 3600.0, rate_window_s)).fetchall()
        if rows and _has_health(conn):
            health = {r[0]: r[1:] for r in conn.execute(
                _HEALTH_STATUS_SQL, {"window": window_h * 3600.0, "health": HEALTH_WINDOW_S}).fetchall()}
    out = []
    for name, last_seen, model_id, recipe, alarms, info, now, parts, passed, recent in rows:
        alarms = alarms if isinstance(alarms, dict) else json.loads(alarms or "{}")
        info = info if isinstance(info, dict) else json.loads(info or "{}")
        state, warnings, w_time, w_severity, w_kind, w_message = health.get(name, (None, 0, None, None, None, None))
        newest = None if w_time is None else {"time": w_time.astimezone(UTC).isoformat(), "severity": w_severity,
                                               "kind": w_kind, "message": w_message}
        out.append(StationStatus(name, int(parts), int(passed), 60.0 * int(recent) / rate_window_s, dict(alarms),
                                 model_id, recipe, last_seen.astimezone(UTC),
                                 max(0.0, (now - last_seen).total_seconds()), int(info.get("backlog", 0)), info,
                                 state, int(warnings), newest))
    return out


@dataclass(frozen=True, slots=True)
class FleetHealthWarning:
    """One health warning or alarm of one station, as the central store has it. `detail` is the station's
    HealthWarning (signal, value, baseline, limit, parts_to_limit, cause, action; non-finite numbers null)."""

    station: str
    time: datetime
    severity: str
    kind: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """`2026-12-06 08:01:02Z  line1-aoi  warning  health_focus  focus: sharpness 812 (…) drifting. …`."""
        return f"{self.time:%Y-%m-%d %H:%M:%S}Z  {self.station}  {self.severity}  {self.kind}  {self.message}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        return data


def _detail(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}", parse_constant=lambda _: None)  # NaN/Infinity → null: valid JSON out
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def fleet_health(url: str, *, station: str | None = None, window_h: float = 24.0, limit: int = 100,
                 timeout_s: float = 5.0, password_env: str | None = None) -> list[FleetHealthWarning]:
    """The health warnings and alarms of the last `window_h` hours across the line (or of one `station`),
    newest first, at most `limit`. Raises StoreError when the database cannot be read, ConfigError for a
    station the central store does not know."""
    with _reading(url, timeout_s, password_env) as conn:
        names = [r[0] for r in conn.execute("select station from stations order by station").fetchall()]
        if station is not None and station not in names:
            raise ConfigError(f"no station named {station!r} in the central store (stations: "
                              f"{', '.join(names) or 'none yet'})")
        if not _has_health(conn):
            return []
        rows = conn.execute(
            "select station, time, severity, kind, message, warning from health_warnings "
            "where time >= now() - make_interval(secs => %s) and (%s::text is null or station = %s) "
            "order by time desc, station, local_id desc limit %s",
            (window_h * 3600.0, station, station, limit)).fetchall()
    return [FleetHealthWarning(name, time.astimezone(UTC), severity or "", kind, message or "", _detail(warning))
            for name, time, severity, kind, message, warning in rows]
