"""The station's health in the central store, against a real PostgreSQL: health samples and baselines
arrive once (across a replicator restart, a replayed batch and a kill -9 of the station), in day
partitions; health warnings (events) show in `station fleet status` and `station fleet health`."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from inspection.central.fleet import fleet_health, fleet_status
from inspection.central.replicator import Replicator
from inspection.central.schema import MIGRATIONS
from inspection.cli import station as station_cli
from inspection.config import CentralConfig
from inspection.errors import ConfigError
from inspection.health.baseline import Baseline, SignalBaseline
from inspection.health.kinds import HealthKind, HealthWarning, Severity
from inspection.health.store import HealthLog
from inspection.records.store import Store

from .test_central_faults import REPO, wait_for
from .test_replicator import record_parts

DAY_S = 86_400.0
HEALTH = ("health", "health_baseline")


def record_samples(log: HealthLog, n: int, start_s: float, *, first: int = 0, state: str = "ok") -> None:
    """n health samples as the listener writes them (every 10th part); a NaN where a signal had no value."""
    for i in range(first, first + n):
        values = {"sharpness": 1500.0 - i, "brightness": 120.0, "confidence_psi": math.nan if i == 0 else 0.01}
        log.record_sample(10 * i, values, {"sharpness": 1500.0 - i / 2}, state, start_s + (i - first) * 10.0)


def warning(kind: HealthKind = HealthKind.FOCUS, severity: Severity = Severity.WARNING, value: float = 812.0,
            ) -> HealthWarning:
    return HealthWarning(kind, severity, "sharpness" if kind is HealthKind.FOCUS else "brightness", 420, value,
                         1500.0, 750.0, 300.0, time.time())


def baseline() -> Baseline:
    return Baseline({"sharpness": SignalBaseline(1500.0, 7.3, 0.05, 400)}, (0.9, 0.8), time.time(), 400, "test")


def ids(url: str, db: Path, table: str, station: str) -> tuple[list[int], list[int]]:
    """(central local ids, station ids) of `table`, in order: equal lists = nothing lost, nothing twice."""
    with psycopg.connect(url) as conn:
        central = [r[0] for r in conn.execute(f"select local_id from {table} where station = %s order by local_id",
                                              (station,))]
    with sqlite3.connect(db) as conn:
        local = [r[0] for r in conn.execute(f"select id from {table} order by id")]
    return central, local


def warning_ids(url: str, db: Path, station: str) -> tuple[list[int], list[int]]:
    """(central, station) ids of the health warnings: the view over central events, the station's events."""
    with psycopg.connect(url) as conn:
        central = [r[0] for r in conn.execute("select local_id from health_warnings where station = %s "
                                              "order by local_id", (station,))]
    with sqlite3.connect(db) as conn:
        local = [r[0] for r in conn.execute("select id from events where kind like 'health!_%' escape '!' "
                                            "order by id")]
    return central, local


def assert_health_equal(url: str, db: Path, station: str) -> None:
    for table in HEALTH:
        central, local = ids(url, db, table, station)
        assert central == local and local, f"{table}: central ids {central} differ from the station's {local}"
    central, local = warning_ids(url, db, station)
    assert central == local and local, "health warnings: central differs from the station's events"


def test_health_rows_arrive_once_across_a_restart_and_a_replayed_batch(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "station.db"
    with Store(db) as store:
        log = HealthLog(store)
        record_samples(log, 5, time.time() - DAY_S)  # yesterday's and today's samples: two day partitions
        record_samples(log, 7, time.time() - 100, first=5)
        log.save_baseline(baseline(), "eng")
        log.record_warning(warning())
        replicator = Replicator(CentralConfig(url=pg_url, batch_rows=4), db, "line1-aoi")
        assert replicator.cycle() > 0
        assert replicator.stats.shipped["health"] == 12 and replicator.stats.shipped["health_baseline"] == 1
        assert_health_equal(pg_url, db, "line1-aoi")
        assert replicator.cycle() == 0

        with psycopg.connect(pg_url) as conn:
            parts = conn.execute("select tableoid::regclass::text, count(*) from health group by 1 order by 1"
                                 ).fetchall()
            assert [n for _, n in parts] == [5, 7] and all(p.startswith("health_p") for p, _ in parts)
            first = conn.execute("select part_index, state, signals, smoothed, data from health "
                                 "where local_id = 1").fetchone()
            assert first[:2] == (0, "ok")
            assert first[2] == {"sharpness": 1500.0, "brightness": 120.0, "confidence_psi": None}  # NaN → null
            assert first[3] == {"sharpness": 1500.0} and "signals" not in first[4] and first[4]["part_index"] == 0
            (base,) = conn.execute("select baseline from health_baseline").fetchone()
            assert base["signals"]["sharpness"]["n"] == 400 and base["note"] == "test"
            (kind, severity, detail) = conn.execute("select kind, severity, warning from health_warnings").fetchone()
            assert (kind, severity, json.loads(detail)["signal"]) == ("health_focus", "warning", "sharpness")

        # A restarted station (new replicator, same SQLite) resumes at the persisted marks: no duplicate.
        record_samples(log, 3, time.time() - 30, first=12)
        again = Replicator(CentralConfig(url=pg_url, batch_rows=2), db, "line1-aoi")
        assert again.cycle() == 3
        assert_health_equal(pg_url, db, "line1-aoi")

        # The marks lost (as if the batches' commits had never been acknowledged): everything is sent
        # again and lands once.
        with psycopg.connect(pg_url) as conn:
            conn.execute("delete from replication_state where source_table in ('health', 'health_baseline')")
        replay = Replicator(CentralConfig(url=pg_url, batch_rows=5), db, "line1-aoi")
        assert replay.cycle() == 15 + 1
        assert_health_equal(pg_url, db, "line1-aoi")


STATION = textwrap.dedent("""
    import math, sys, time
    from pathlib import Path
    from inspection.config import CentralConfig
    from inspection.central.replicator import Replicator
    from inspection.health.store import HealthLog
    from inspection.records.store import Store
    db = Path(sys.argv[1])
    with Store(db) as store:
        log = HealthLog(store)
        Replicator(CentralConfig(url=sys.argv[2], interval_s=0.01, batch_rows=7), db, "line2").start()
        for i in range(100_000):
            log.record_sample(i, {"sharpness": 1500.0 - i, "confidence_psi": math.nan}, {}, "ok")
            if i % 25 == 0:
                store.event("warning", "health_focus", f"focus: sharpness {1500 - i}", {"signal": "sharpness"})
            time.sleep(0.002)
""")


def test_station_killed_mid_replication_ships_the_rest_of_its_health_once(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "station.db"
    script = tmp_path / "station.py"
    script.write_text(STATION, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(db), pg_url], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})

    def central_samples() -> int:
        try:
            with psycopg.connect(pg_url, connect_timeout=2) as conn:
                return int(conn.execute("select count(*) from health where station = 'line2'").fetchone()[0])
        except psycopg.Error:  # the schema is not there before the replicator's first connect
            return 0

    try:
        wait_for(lambda: central_samples() >= 150, "the station replicating its health")
        os.kill(proc.pid, signal.SIGKILL)  # mid-batch, most likely: batches of 7 every 10 ms
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    restarted = Replicator(CentralConfig(url=pg_url, batch_rows=50), db, "line2")
    while restarted.cycle():
        pass
    central, local = ids(pg_url, db, "health", "line2")
    assert central == local and len(local) >= 150
    central, local = warning_ids(pg_url, db, "line2")
    assert central == local and local


def old_warning(store: Store, age_s: float, kind: HealthKind) -> None:
    """A health warning logged `age_s` ago (the store's event() stamps now): the row the listener writes."""
    w = warning(kind)
    store.insert("events", {"time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - age_s)),
                            "level": w.severity.value, "kind": w.kind.value, "message": w.message,
                            "data": json.dumps(w.as_dict())})


def test_fleet_status_shows_each_stations_health_and_fleet_health_lists_the_warnings(tmp_path: Path,
                                                                                      pg_url: str) -> None:
    with Store(tmp_path / "line1.db") as store:
        record_parts(store, 3, time.time() - 60)
        log = HealthLog(store)
        record_samples(log, 3, time.time() - 120)
        record_samples(log, 1, time.time() - 5, first=3, state="warning")  # the newest sample's state counts
        old_warning(store, 2 * 3600, HealthKind.REGISTRATION)  # outside the hour of `fleet status`
        log.record_warning(warning(HealthKind.FOCUS))
        log.record_warning(warning(HealthKind.LIGHT, value=math.nan))  # the newest; NaN in its detail
        store.event("alarm", "camera_lost", "camera cam0 lost")  # not a health warning
    with Store(tmp_path / "line2.db") as store:
        record_parts(store, 3, time.time() - 60)
    for name in ("line1", "line2"):
        Replicator(CentralConfig(url=pg_url), tmp_path / f"{name}.db", name).cycle()

    one, two = fleet_status(pg_url)
    assert (one.health_state, one.health_warnings) == ("warning", 2)
    assert one.health_newest is not None and one.health_newest["kind"] == "health_light"
    assert one.health_newest["message"].startswith("illumination: brightness nan (baseline 1500")
    assert one.needs_attention and not two.needs_attention
    assert (one.severity, two.severity) == ("warning", None)  # the colour of both views
    assert (two.health_state, two.health_warnings, two.health_newest) == (None, 0, None)
    assert "  health=warning (2 warnings in 1 h, newest health_light: illumination: brightness nan (baseline " \
        "1500, limit 750) reaches its limit in about 300 parts at this trend.)" in one.line()
    assert "Likely cause" not in one.line() and "health=" not in two.line()

    result = CliRunner().invoke(station_cli, ["fleet", "status", "--url", pg_url])
    assert result.exit_code == 0, result.output
    assert "health=warning (2 warnings in 1 h, newest health_light" in result.output.splitlines()[0]
    data = json.loads(CliRunner().invoke(station_cli, ["fleet", "status", "--url", pg_url, "--json"]).output)
    assert data[0]["health_state"] == "warning" and data[0]["health_warnings"] == 2
    assert data[0]["health_newest"]["severity"] == "warning" and "Likely cause" in data[0]["health_newest"]["message"]
    assert data[1]["health_warnings"] == 0

    warnings = fleet_health(pg_url)  # the last 24 h, newest first, across the line
    assert [w.kind for w in warnings] == ["health_light", "health_focus", "health_registration"]
    assert warnings[0].station == "line1" and warnings[0].detail["value"] is None  # NaN → null
    assert warnings[1].detail["signal"] == "sharpness" and warnings[1].detail["parts_to_limit"] == 300.0
    assert [w.kind for w in fleet_health(pg_url, window_h=1.5)] == ["health_light", "health_focus"]
    assert fleet_health(pg_url, station="line2") == []
    with pytest.raises(ConfigError, match="no station named 'line9' in the central store \\(stations: line1, line2"):
        fleet_health(pg_url, station="line9")

    result = CliRunner().invoke(station_cli, ["fleet", "health", "--url", pg_url, "--station", "line1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 and "  line1  warning  health_light  illumination: brightness nan" in lines[0]
    assert "Action: check and clean the light" in lines[0] and "health_registration" in lines[2]
    result = CliRunner().invoke(station_cli, ["fleet", "health", "--url", pg_url, "--station", "line2"])
    assert result.exit_code == 0 and result.output.strip() == "no health warnings of line2 in the last 24 h"
    result = CliRunner().invoke(station_cli, ["fleet", "health", "--url", pg_url, "--json", "--limit", "1"])
    (only,) = json.loads(result.output)  # strict JSON: no NaN
    assert only["kind"] == "health_light" and only["detail"]["value"] is None
    result = CliRunner().invoke(station_cli, ["fleet", "health", "--url", pg_url, "--station", "line9"])
    assert result.exit_code == ConfigError.exit_code and "no station named 'line9'" in result.output


def test_a_central_store_of_schema_version_1_still_shows_the_fleet(tmp_path: Path, pg_url: str) -> None:
    """`station fleet` of this release against a database no station of it has migrated yet."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("create table schema_migrations (version int primary key, name text not null, "
                     "applied timestamptz not null default now())")
        conn.execute((MIGRATIONS / "0001_initial.sql").read_text(encoding="utf-8"))
        conn.execute("insert into schema_migrations (version, name) values (1, 'initial')")
        conn.execute("insert into stations (station) values ('old')")
    (old,) = fleet_status(pg_url)
    assert (old.name, old.health_state, old.health_warnings) == ("old", None, 0)
    assert fleet_health(pg_url) == []


def test_a_running_station_ships_its_health_samples(station_yaml: Path, pg_url: str) -> None:
    from inspection.config import load_station_config
    from inspection.runtime.pipeline import Station

    with station_yaml.open("a", encoding="utf-8") as f:
        f.write(f"central:\n  url: {pg_url}\n  interval_s: 0.1\n")
    with Station(load_station_config(station_yaml)) as station:
        station.run(max_parts=6)  # the listener samples part 0 (and every 10th)
        db = station.db_path
        station.replicator.poke()
        wait_for(lambda: station.replicator.stats.shipped["inspections"] >= 6
                 and station.replicator.stats.shipped["health"] >= 1, "the parts and the health sample shipped")
    central, local = ids(pg_url, db, "health", "test")
    assert central == local and len(local) >= 1
    (status,) = fleet_status(pg_url)
    assert status.health_state in ("learning", "ok") and status.health_warnings == 0
