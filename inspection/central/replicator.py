"""Ships the station's SQLite rows to the central PostgreSQL, exactly once, never in the verdict's way.

Rules:
- SQLite stays the local buffer. The verdict path writes SQLite only; this thread reads it through its
  own connection (WAL: readers never block the writer) and writes PostgreSQL. An outage of any length
  only grows the backlog.
- Exactly once. Append-only tables (inspections, detections, refdes_results, events, audit, health,
  health_baseline) are shipped in id order; each batch and the new high-water mark (`replication_state`)
  are written in ONE PostgreSQL transaction, and the mark is read back from PostgreSQL after every (re)connect. A batch
  whose commit was lost with the connection is sent again and lands once: every insert is an upsert on
  (station, local id) that does nothing when the row is there. A kill -9 of the station loses only an
  uncommitted transaction, which PostgreSQL rolls back.
- Overrides and labels change after they are written (review, delete): each cycle their rows whose
  content changed since the last cycle are upserted with their newest content.
- Every row carries the station's name. Tables of another schema version ship what they have: all
  SQLite columns travel in `data` (jsonb), so new columns (the audit chain's hashes) need no change here.
- Losing the database is an alarm event in the station's store (once per outage), its return an info
  event with the backlog; the thread reconnects with backoff and never dies silently.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from inspection.central.schema import PARTITIONED, ensure_partitions, migrate
from inspection.config import CentralConfig
from inspection.errors import ConfigError

__all__ = ["ALARM_KIND", "APPEND_TABLES", "MUTABLE_TABLES", "ReplicationStats", "Replicator", "connect"]

log = logging.getLogger(__name__)
ALARM_KIND = "central_db"
EventSink = Callable[[str, str, str], None]  # (level "alarm"|"info", kind, message)
StatusSource = Callable[[], Mapping[str, Any]]  # model_id, recipe, alarms (dict kind → message), info


@dataclass(frozen=True, slots=True)
class _Append:
    """An append-only SQLite table shipped by id. `select` returns rows with id > ? (plus `_time`)."""

    name: str
    select: str
    insert: str
    columns: Callable[[dict[str, Any]], tuple[Any, ...]]


def _ts(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _data(row: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in row.items() if not k.startswith("_")}, default=str)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _json(text: Any) -> str | None:
    """The station's JSON text as jsonb input: NaN/±inf (valid for Python, refused by jsonb) become null;
    text that is not JSON travels as a JSON string rather than stopping the table's replication."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        value = str(text)
    return json.dumps(_finite(value), allow_nan=False)


APPEND_TABLES: tuple[_Append, ...] = (
    _Append("inspections", "select *, time as _time from inspections where id > ? order by id limit ?",
            "insert into inspections (station, local_id, time, part_key, part_id, camera_id, recipe, model_id, "
            "verdict, failsafe, latency_ms, data) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "on conflict do nothing",
            lambda r: (r["part_key"], r["part_id"], r["camera_id"], r["recipe"], r["model_id"], r["verdict"],
                       bool(r["failsafe"]), r.get("latency_ms"), _data(r))),
    _Append("detections", "select d.*, i.time as _time from detections d join inspections i on i.id = "
            "d.inspection_id where d.id > ? order by d.id limit ?",
            "insert into detections (station, local_id, time, inspection_id, class_name, confidence, counted, data) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            lambda r: (r["inspection_id"], r["class_name"], r["confidence"], _bool(r["counted"]), _data(r))),
    _Append("refdes_results", "select d.*, i.time as _time from refdes_results d join inspections i on "
            "i.id = d.inspection_id where d.id > ? order by d.id limit ?",
            "insert into refdes_results (station, local_id, time, inspection_id, refdes, pin, class_name, counted, "
            "data) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            lambda r: (r["inspection_id"], r["refdes"], r["pin"], r["class_name"], _bool(r["counted"]), _data(r))),
    _Append("events", "select *, time as _time from events where id > ? order by id limit ?",
            "insert into events (station, local_id, time, level, kind, message, data) "
            "values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            lambda r: (r["level"], r["kind"], r["message"], _data(r))),
    _Append("audit", "select *, time as _time from audit where id > ? order by id limit ?",
            "insert into audit (station, local_id, time, data) values (%s, %s, %s, %s) on conflict do nothing",
            lambda r: (_data(r),)),
    _Append("health", "select *, time as _time from health where id > ? order by id limit ?",
            "insert into health (station, local_id, time, part_index, state, signals, smoothed, data) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            lambda r: (r.get("part_index"), r.get("state"), _json(r.get("signals")), _json(r.get("smoothed")),
                       _data({k: v for k, v in r.items() if k not in ("signals", "smoothed")}))),
    _Append("health_baseline", "select *, time as _time from health_baseline where id > ? order by id limit ?",
            "insert into health_baseline (station, local_id, time, parts, set_by, note, baseline, data) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            lambda r: (r.get("parts"), r.get("set_by"), r.get("note"), _json(r.get("data")),
                       _data({k: v for k, v in r.items() if k != "data"}))),
)
MUTABLE_TABLES = {
    "overrides": ("insert into overrides (station, local_id, inspection_id, status, data, updated) "
                  "values (%s, %s, %s, %s, %s, now()) on conflict (station, local_id) do update set "
                  "inspection_id = excluded.inspection_id, status = excluded.status, data = excluded.data, "
                  "updated = now() where overrides.data is distinct from excluded.data",
                  lambda r: (r.get("inspection_id"), r.get("status"), _data(r))),
    "labels": ("insert into labels (station, local_id, data, updated) values (%s, %s, %s, now()) "
               "on conflict (station, local_id) do update set data = excluded.data, updated = now() "
               "where labels.data is distinct from excluded.data",
               lambda r: (_data(r),)),
}


@dataclass
class ReplicationStats:
    """What the replicator has done; `backlog` = local rows not yet in PostgreSQL (append-only tables)."""

    connected: bool = False
    shipped: dict[str, int] = field(default_factory=dict)
    backlog: int = 0
    lag_s: float = 0.0  # age of the oldest inspection not yet shipped (0 when caught up)
    outages: int = 0
    cycles: int = 0
    last_error: str = ""


def connect(url: str, *, password_env: str | None = None, connect_timeout_s: float = 5.0,
            statement_timeout_s: float = 30.0, application: str = "inspection-station") -> Any:
    """A psycopg connection in autocommit, UTC, with timeouts (the caller opens transactions explicitly)."""
    try:
        import psycopg
    except ImportError:
        raise ConfigError("central: needs psycopg 3: pip install 'inspection-station[fleet]'") from None
    kwargs: dict[str, Any] = {}
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise ConfigError(f"central: password_env: the environment variable {password_env} is not set")
        kwargs["password"] = password
    return psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(connect_timeout_s)),
                           application_name=application[:63],
                           options=f"-c timezone=UTC -c statement_timeout={int(statement_timeout_s * 1000)}",
                           keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3, **kwargs)


class Replicator:
    """One thread per station: SQLite → PostgreSQL. `start()` never blocks on the database."""

    def __init__(self, options: CentralConfig, db_path: Path | str, station: str,
                 event: EventSink | None = None, status: StatusSource | None = None) -> None:
        if not station:
            raise ConfigError("central: the station needs a `name:` (it is the station's id in the central store)")
        if importlib.util.find_spec("psycopg") is None:  # at start, not as an endless reconnect alarm
            raise ConfigError("central: needs psycopg 3: pip install 'inspection-station[fleet]'")
        self.options = options
        self.db_path = Path(db_path)
        self.station = station
        self._event = event
        self._status = status
        self._stats = ReplicationStats(shipped={t.name: 0 for t in APPEND_TABLES} | dict.fromkeys(MUTABLE_TABLES, 0))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pg: Any = None
        self._sqlite: sqlite3.Connection | None = None
        self._marks: dict[str, int] = {}
        self._digests: dict[str, dict[int, str]] = {t: {} for t in MUTABLE_TABLES}
        self._partitions: set[tuple[str, date]] = set()
        self._outage_since: float | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Replicator:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"central-{self.station}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """One last cycle (bounded by `timeout_s` and the statement timeout), then disconnect."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout_s + self.options.statement_timeout_s)
        if thread.is_alive():
            log.warning("central replicator for %s did not stop in time", self.station)

    def __enter__(self) -> Replicator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def poke(self) -> None:
        """Run a cycle now (tests, `station fleet`), instead of waiting for `interval_s`."""
        self._wake.set()

    @property
    def stats(self) -> ReplicationStats:
        with self._lock:
            return ReplicationStats(**{**vars(self._stats), "shipped": dict(self._stats.shipped)})

    # --- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.2
        try:
            while True:
                stopping = self._stop.is_set()
                try:
                    if self._pg is None:
                        self._connect()
                    self.cycle()
                except Exception as exc:  # psycopg.Error, OSError, sqlite3.Error: report, reconnect later
                    self._down(exc)
                    if stopping or self._stop.wait(delay):
                        break
                    delay = min(delay * 2, self.options.reconnect_max_s)
                    continue
                # Back only after a whole cycle shipped: a server that accepts the connection but refuses a
                # row must not flip the alarm on and off every 0.2 s.
                delay = 0.2
                self._back()
                if stopping:
                    break
                self._wake.wait(self.options.interval_s)
                self._wake.clear()
        except BaseException as exc:  # the thread must end with a message, never silently
            log.exception("central replicator failed")
            self._emit("alarm", f"central replication to {self._where()} stopped: {type(exc).__name__}: {exc}; "
                       "restart the station to resume it (nothing is lost: the rows wait in SQLite)")
        finally:
            self._close_pg()
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None

    def _connect(self) -> None:
        o = self.options
        self._pg = connect(o.url, password_env=o.password_env, connect_timeout_s=o.connect_timeout_s,
                           statement_timeout_s=o.statement_timeout_s, application=f"station-{self.station}")
        migrate(self._pg)
        with self._pg.transaction():
            self._pg.execute("insert into stations (station) values (%s) on conflict do nothing", (self.station,))
            self._claim_name()
        rows = self._pg.execute("select source_table, last_id from replication_state where station = %s",
                                (self.station,)).fetchall()
        self._marks = {t.name: 0 for t in APPEND_TABLES} | {name: int(last) for name, last in rows}
        self._digests = {t: {} for t in MUTABLE_TABLES}  # re-check every row: the upsert skips equal content
        with self._lock:
            self._stats.connected = True

    def _claim_name(self) -> None:
        """The station name belongs to the first station log that shipped under it (its instance id)."""
        assert self._pg is not None
        local = self._local()
        row = local.execute("select value from meta where key = 'instance_id'").fetchone() \
            if "meta" in self._tables(local) else None
        if row is None:  # a log from before instance ids: nothing to compare
            return
        mine, host = str(row[0]), socket.gethostname()
        owner = self._pg.execute("select instance, host from stations where station = %s for update",
                                 (self.station,)).fetchone()
        if owner[0] is None:
            self._pg.execute("update stations set instance = %s, host = %s where station = %s",
                             (mine, host, self.station))
        elif owner[0] != mine:
            raise NameTaken(f"another station (host {owner[1]}, log {owner[0][:8]}) already ships as "
                            f"{self.station!r}; this one (host {host}, log {mine[:8]}) ships nothing: give each "
                            "station its own `name:` (if this PC replaced that one, clear the claim in the central "
                            f"store: update stations set instance = null where station = '{self.station}')")

    def cycle(self) -> int:
        """One pass over every table (call from the replicator's thread, or in tests without `start`)."""
        if self._pg is None:
            self._connect()
        local = self._local()
        shipped = 0
        for table in APPEND_TABLES:
            shipped += self._ship_append(local, table)
        for name in MUTABLE_TABLES:
            shipped += self._ship_mutable(local, name)
        self._heartbeat(local)
        with self._lock:
            self._stats.cycles += 1
        return shipped

    def _local(self) -> sqlite3.Connection:
        if self._sqlite is None:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5.0, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self._sqlite = conn
        return self._sqlite

    def _tables(self, local: sqlite3.Connection) -> set[str]:
        return {r[0] for r in local.execute("select name from sqlite_master where type = 'table'")}

    def _ship_append(self, local: sqlite3.Connection, table: _Append) -> int:
        if table.name not in self._tables(local):
            return 0
        total = 0
        while not (self._stop.is_set() and total):  # on stop: one batch per table, then out
            rows = [dict(r) for r in local.execute(table.select, (self._marks[table.name],
                                                                   self.options.batch_rows)).fetchall()]
            if not rows:
                break
            values = [(self.station, r["id"], _ts(r["_time"]), *table.columns(r)) for r in rows]
            if table.name in PARTITIONED:
                ensure_partitions(self._pg, table.name, {v[2].date() for v in values}, self._partitions)
            last = rows[-1]["id"]
            with self._pg.transaction(), self._pg.cursor() as cur:
                cur.executemany(table.insert, values)
                cur.execute("insert into replication_state (station, source_table, last_id, updated) "
                            "values (%s, %s, %s, now()) on conflict (station, source_table) do update set "
                            "last_id = excluded.last_id, updated = now()", (self.station, table.name, last))
            self._marks[table.name] = last
            total += len(rows)
            with self._lock:
                self._stats.shipped[table.name] += len(rows)
            if len(rows) < self.options.batch_rows:
                break
        return total

    def _ship_mutable(self, local: sqlite3.Connection, name: str) -> int:
        if name not in self._tables(local):
            return 0
        sql, columns = MUTABLE_TABLES[name]
        seen = self._digests[name]
        changed = []
        for row in (dict(r) for r in local.execute(f"select * from {name} order by id")):
            digest = hashlib.sha1(_data(row).encode(), usedforsecurity=False).hexdigest()
            if seen.get(row["id"]) != digest:
                changed.append((row, digest))
        for start in range(0, len(changed), self.options.batch_rows):
            chunk = changed[start:start + self.options.batch_rows]
            with self._pg.transaction(), self._pg.cursor() as cur:
                cur.executemany(sql, [(self.station, r["id"], *columns(r)) for r, _ in chunk])
            seen.update((r["id"], d) for r, d in chunk)
        with self._lock:
            self._stats.shipped[name] += len(changed)
        return len(changed)

    def _heartbeat(self, local: sqlite3.Connection) -> None:
        status = dict(self._status()) if self._status is not None else {}
        backlog, lag = self._backlog(local)
        info = {"backlog": backlog, "lag_s": round(lag, 3), "host": os.uname().nodename}
        with self._pg.transaction():
            self._pg.execute(
                "update stations set last_seen = now(), model_id = coalesce(%s, model_id), "
                "recipe = coalesce(%s, recipe), alarms = %s, info = %s where station = %s",
                (status.get("model_id"), status.get("recipe"), json.dumps(status.get("alarms", {})),
                 json.dumps(info | dict(status.get("info", {}))), self.station))
        with self._lock:
            self._stats.backlog, self._stats.lag_s = backlog, lag

    def _backlog(self, local: sqlite3.Connection) -> tuple[int, float]:
        tables = self._tables(local)
        backlog = 0
        for table in APPEND_TABLES:
            if table.name in tables:
                backlog += local.execute(f"select count(*) from {table.name} where id > ?",
                                         (self._marks[table.name],)).fetchone()[0]
        lag = 0.0
        if "inspections" in tables:
            row = local.execute("select min(timestamp_s) from inspections where id > ?",
                                (self._marks["inspections"],)).fetchone()
            if row[0] is not None:
                lag = max(0.0, time.time() - float(row[0]))
        return backlog, lag

    # --- reporting ---------------------------------------------------------------------------------

    def _where(self) -> str:
        try:
            from psycopg.conninfo import conninfo_to_dict

            info = conninfo_to_dict(self.options.url)
            return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
        except Exception:
            return "the central database"

    def _close_pg(self) -> None:
        pg, self._pg = self._pg, None
        if pg is not None:
            try:
                pg.close()
            except Exception as exc:
                log.debug("closing the central connection: %s", exc)
        with self._lock:
            self._stats.connected = False

    def _down(self, exc: BaseException) -> None:
        self._close_pg()
        reason = " ".join(str(exc).split()) or type(exc).__name__
        with self._lock:
            self._stats.last_error = reason
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            with self._lock:
                self._stats.outages += 1
            if isinstance(exc, NameTaken):
                self._emit("alarm", f"central database {self._where()}: {exc}; verdicts are kept in the local "
                           "SQLite")
                return
            what, check = ((f"refused what this station sent: {reason}", "check the central schema, constraints "
                            "and the role's rights") if _refused(exc) else
                           (f"not reachable: {reason}", "check the database and `central: url:`"))
            self._emit("alarm", f"central database {self._where()} {what}; verdicts are kept in the local SQLite "
                       f"and shipped when it takes them ({check})")
        else:
            log.debug("central database still not reachable: %s", reason)

    def _back(self) -> None:
        if self._outage_since is None:
            if self._stats.cycles == 1:
                log.info("central replication of %s to %s", self.station, self._where())
            return
        took = time.monotonic() - self._outage_since
        self._outage_since = None
        backlog = self._backlog(self._local())[0]
        self._emit("info", f"central database {self._where()} reachable again after {took:.1f} s; "
                   f"shipping {backlog} waiting rows")

    def _emit(self, level: str, message: str) -> None:
        (log.warning if level == "alarm" else log.info)("%s", message)
        if self._event is not None:
            try:
                self._event(level, ALARM_KIND, message)
            except Exception:  # reporting must not kill the thread that reconnects
                log.exception("could not report a central replication event")


def _refused(exc: BaseException) -> bool:
    """The server answered and said no (a constraint, a type, a permission), as opposed to not answering."""
    import psycopg

    return isinstance(exc, psycopg.DatabaseError) and not isinstance(exc, psycopg.OperationalError)


class NameTaken(Exception):
    """Another station log already ships under this station name."""
