"""Fault tests of the central store: PostgreSQL killed (-9) mid-run and restarted, the station killed (-9)
mid-replication and restarted. Afterwards the central rows equal the station's SQLite rows, id for id:
nothing lost, nothing twice. The verdict path never waits for the database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from inspection.central.replicator import ALARM_KIND, Replicator
from inspection.config import CentralConfig
from inspection.records.store import Store

from .test_replicator import central_counts, local_counts, record_parts

REPO = Path(__file__).resolve().parents[3]
WAIT_S = 60.0  # generous: the CI machine is shared


def wait_for(check: Any, what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def ids(url: str, db: Path, table: str, station: str) -> tuple[list[int], list[int]]:
    with psycopg.connect(url) as conn:
        central = [r[0] for r in conn.execute(f"select local_id from {table} where station = %s order by local_id",
                                              (station,))]
    with sqlite3.connect(db) as conn:
        local = [r[0] for r in conn.execute(f"select id from {table} order by id")]
    return central, local


def central_rows(url: str, station: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return int(conn.execute("select count(*) from inspections where station = %s", (station,)).fetchone()[0])
    except psycopg.Error:
        return 0


def test_postgres_killed_mid_run_and_restarted_loses_and_duplicates_nothing(tmp_path: Path, pg_server: Any) -> None:
    db = tmp_path / "station.db"
    events: list[tuple[str, str, str]] = []
    options = CentralConfig(url=pg_server.url, interval_s=0.05, batch_rows=25, connect_timeout_s=2,
                            reconnect_max_s=0.5, statement_timeout_s=5)
    with Store(db) as store:
        slowest = [0.0]
        done = threading.Event()

        def line(n: int, first: int) -> None:  # the station's verdict writer at line rate
            for i in range(first, first + n):
                t0 = time.perf_counter()
                record_parts(store, 1, time.time(), first=i)
                slowest[0] = max(slowest[0], time.perf_counter() - t0)
                time.sleep(0.004)

        with Replicator(options, db, "line1", event=lambda *e: events.append(e)) as replicator:
            writer = threading.Thread(target=lambda: (line(300, 0), done.set()))
            writer.start()
            wait_for(lambda: central_rows(pg_server.url, "line1") >= 60, "rows in PostgreSQL before the kill")
            pg_server.kill()
            wait_for(lambda: any(e[0] == "alarm" for e in events), "the database-lost alarm")
            time.sleep(0.5)  # the station keeps inspecting into SQLite meanwhile
            pg_server.start()
            writer.join(WAIT_S)
            assert done.is_set()
            wait_for(lambda: replicator.stats.backlog == 0 and replicator.stats.connected
                     and central_rows(pg_server.url, "line1") == 300, "the backlog shipped after the restart")
            replicator.poke()
            wait_for(lambda: central_counts(pg_server.url, "line1") == local_counts(db), "every table caught up")
        for table in ("inspections", "detections", "refdes_results"):
            central, local = ids(pg_server.url, db, table, "line1")
            assert central == local, f"{table}: central ids differ from the station's"
    alarm = next(e for e in events if e[0] == "alarm")
    assert alarm[1] == ALARM_KIND and "not reachable" in alarm[2] and "kept in the local SQLite" in alarm[2]
    back = [e for e in events if e[0] == "info"]
    assert back and "reachable again" in back[0][2]
    # a write that waited for the network would take the 2 s connect timeout; a loaded CI disk takes < 1.5 s
    assert slowest[0] < 1.5, f"a verdict write waited {slowest[0]:.2f} s: it must never wait for the network"


STATION = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from inspection.config import CentralConfig
    from inspection.central.replicator import Replicator
    from inspection.records.store import Store
    from test_replicator import record_parts
    db = Path(sys.argv[1])
    with Store(db) as store:
        Replicator(CentralConfig(url=sys.argv[2], interval_s=0.01, batch_rows=7), db, "line2").start()
        for i in range(100_000):
            record_parts(store, 1, time.time(), first=i)
            time.sleep(0.002)
""")


def test_station_killed_mid_replication_ships_the_rest_once_after_restart(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "station.db"
    script = tmp_path / "station.py"
    script.write_text(STATION.format(tests=str(Path(__file__).parent)), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(db), pg_url], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        wait_for(lambda: central_rows(pg_url, "line2") >= 150, "the station replicating")
        os.kill(proc.pid, signal.SIGKILL)  # mid-batch, most likely: batches of 7 every 10 ms
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    restarted = Replicator(CentralConfig(url=pg_url, batch_rows=50), db, "line2")
    while restarted.cycle():
        pass
    assert central_counts(pg_url, "line2") == local_counts(db)
    for table in ("inspections", "detections", "refdes_results"):
        central, local_ids = ids(pg_url, db, table, "line2")
        assert central == local_ids, f"{table}: central ids differ from the station's"


def test_outage_at_start_is_an_alarm_and_nothing_waits(tmp_path: Path) -> None:
    db = tmp_path / "station.db"
    events: list[tuple[str, str, str]] = []
    with Store(db) as store:
        record_parts(store, 3, time.time())
        options = CentralConfig(url="postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=1, reconnect_max_s=0.2)
        with Replicator(options, db, "line3", event=lambda *e: events.append(e)) as replicator:
            t0 = time.perf_counter()
            record_parts(store, 3, time.time(), first=3)
            assert time.perf_counter() - t0 < 1.5  # recording does not wait for the replicator
            wait_for(lambda: events, "the alarm")
            assert replicator.stats.outages == 1 and not replicator.stats.connected
        assert events[0][0] == "alarm" and "127.0.0.1:1" in events[0][2]


def test_a_row_the_central_refuses_is_one_alarm_that_says_so_not_a_flapping_outage(tmp_path: Path,
                                                                                    pg_url: str) -> None:
    """A DBA adds a constraint that one of the station's rows breaks. Before: "not reachable" / "reachable
    again" alternated every 0.2 s (the backoff reset at each connect). Now one alarm naming the refusal, the
    backoff grows, and "again" comes only once a whole cycle has shipped."""
    db = tmp_path / "station.db"
    events: list[tuple[str, str, str]] = []
    options = CentralConfig(url=pg_url, interval_s=0.05, connect_timeout_s=2, reconnect_max_s=0.4,
                            statement_timeout_s=5)
    with Store(db) as store:
        record_parts(store, 3, time.time())
        with Replicator(options, db, "line1", event=lambda *e: events.append(e)) as replicator:
            wait_for(lambda: central_rows(pg_url, "line1") == 3, "the first rows")
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("alter table inspections add constraint no_p4 check (part_id <> 'P00004')")
            record_parts(store, 3, time.time(), first=3)
            replicator.poke()
            wait_for(lambda: any(e[0] == "alarm" for e in events), "the refusal alarm")
            time.sleep(2.0)  # many cycles' worth of time
            assert [e[0] for e in events] == ["alarm"], events
            assert "refused what this station sent" in events[0][2] and "no_p4" in events[0][2]
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("alter table inspections drop constraint no_p4")
            wait_for(lambda: central_rows(pg_url, "line1") == 6, "the waiting rows shipped")
            wait_for(lambda: any(e[0] == "info" for e in events), "the all-clear")
    assert [e[0] for e in events] == ["alarm", "info"] and "reachable again" in events[1][2]
