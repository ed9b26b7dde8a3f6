"""The central verdict store against a real PostgreSQL: what the station's SQLite holds arrives once,
tagged with the station, in day partitions; mutable rows follow their changes; the fleet view reads it."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from inspection.central.fleet import fleet_status
from inspection.central.replicator import Replicator
from inspection.central.schema import migrate, migrations, schema_version
from inspection.cli import station as station_cli
from inspection.config import CentralConfig
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.errors import StoreError
from inspection.records.store import Store

DAY_S = 86_400.0


def record_parts(store: Store, n: int, start_s: float, step_s: float = 1.0, first: int = 0) -> None:
    """n real parts through the station's own writer: every third fails with a bridge on R12 pin 2."""
    for i in range(first, first + n):
        frame = Frame(np.zeros((8, 8, 3), np.uint8), "cam0", i, start_s + (i - first) * step_s, part_id=f"P{i:05d}")
        if i % 3 == 2:
            d = Detection("bridge", 0.9, Box(1, 1, 4, 4), 0, source="aoi", attributes={"refdes": "R12", "pin": "2"})
            verdict = Verdict(VerdictStatus.FAIL, (Reason("defect", "bridge ×1", "bridge"),))
            store.record(Inspection(frame, (d,), verdict, (d,), recipe="board", model_id="m1"))
        else:
            store.record(Inspection(frame, (), Verdict(VerdictStatus.PASS), recipe="board", model_id="m1"))


def central_counts(url: str, station: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"select count(*) from {t} where station = %s", (station,)).fetchone()[0]
                for t in ("inspections", "detections", "refdes_results", "events", "audit", "overrides")}


def local_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("inspections", "detections", "refdes_results", "events", "audit", "overrides")}


def test_migrations_are_numbered_and_applied_once(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert schema_version(conn) == 0
        assert migrate(conn) == len(migrations()) >= 1
        assert migrate(conn) == len(migrations())  # a second station starting: nothing to do
        applied = conn.execute("select version from schema_migrations order by version").fetchall()
        assert [v for (v,) in applied] == [v for v, _, _ in migrations()]


def test_rows_arrive_once_tagged_with_the_station_in_day_partitions(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "station.db"
    with Store(db) as store:
        # two days of parts (yesterday's 3, today's 6), an alarm, an audit row with columns the central
        # schema does not know (the hash chain, issue 17), an override that is reviewed later
        record_parts(store, 3, time.time() - DAY_S)
        record_parts(store, 6, time.time() - 10, first=3)
        store.event("alarm", "camera_lost", "camera cam0 lost")
        audit_id = store.append_audit({"time": "2026-12-06T05:00:00+00:00", "timestamp_s": 0.0, "username": "eng",
                                       "role": "engineer", "action": "promote", "detail": "m1", "allowed": 1})
        row_hash = store.db["audit"].get(audit_id)["row_hash"]
        override = store.insert("overrides", {"inspection_id": 3, "time": "2026-12-06T05:00:00+00:00",
                                              "username": "op", "old_verdict": "FAIL", "new_verdict": "PASS",
                                              "reason": "dust", "status": "pending"})
        replicator = Replicator(CentralConfig(url=pg_url, batch_rows=4), db, "line1-aoi")
        assert replicator.cycle() > 0
        assert central_counts(pg_url, "line1-aoi") == local_counts(db)
        assert replicator.cycle() == 0  # nothing new: nothing sent

        with psycopg.connect(pg_url) as conn:
            parts = conn.execute("select tableoid::regclass::text, count(*) from inspections group by 1 order by 1"
                                 ).fetchall()
            assert [n for _, n in parts] == [3, 6] and all(p.startswith("inspections_p") for p, _ in parts)
            refdes = conn.execute("select refdes, pin, class_name, counted from refdes_results").fetchall()
            assert refdes == [("R12", "2", "bridge", True)] * 3
            (audit,) = conn.execute("select data from audit where station = 'line1-aoi'").fetchone()
            assert audit["row_hash"] == row_hash and audit["action"] == "promote"  # the hash chain travels too
            marks = dict(conn.execute("select source_table, last_id from replication_state").fetchall())
            assert marks["inspections"] == 9

        # The override is reviewed at the station: its newest content follows, still one row.
        store.update("overrides", override, {"status": "approved", "reviewed_by": "eng"})
        record_parts(store, 2, time.time(), first=9)
        assert replicator.cycle() == 2 + 1
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute("select status, data->>'reviewed_by' from overrides").fetchall()
            assert rows == [("approved", "eng")]
        assert central_counts(pg_url, "line1-aoi") == local_counts(db)

        # A restarted station (new replicator, same SQLite) resumes at the persisted mark: no duplicate.
        again = Replicator(CentralConfig(url=pg_url), db, "line1-aoi")
        assert again.cycle() == 1  # only the override is re-checked (content equal: the upsert leaves it)
        assert central_counts(pg_url, "line1-aoi") == local_counts(db)


def test_fleet_status_shows_every_station_with_its_numbers(tmp_path: Path, pg_url: str) -> None:
    for name, n in (("line1-aoi", 9), ("line2-aoi", 4)):
        with Store(tmp_path / f"{name}.db") as store:
            record_parts(store, n, time.time() - 60, step_s=5.0)
        status = {"model_id": "3f9a1c2b7d10", "recipe": "board",
                  "alarms": {"camera cam0": "lost"} if name == "line2-aoi" else {}}
        Replicator(CentralConfig(url=pg_url), tmp_path / f"{name}.db", name, status=lambda s=status: s).cycle()
    stations = fleet_status(pg_url)
    assert [s.name for s in stations] == ["line1-aoi", "line2-aoi"]
    one, two = stations
    assert (one.parts, one.passed, round(one.yield_pct or 0, 1)) == (9, 6, 66.7)
    assert one.parts_per_min == pytest.approx(60.0 * 9 / 300.0)  # all 9 within the last 5 minutes
    assert one.model_id == "3f9a1c2b7d10" and one.online and one.alarms == {}
    assert two.alarms == {"camera cam0": "lost"} and two.parts == 4
    line = one.line()
    assert line.startswith("line1-aoi  parts=9  yield=66.7%  1.8 parts/min  alarms=0  model=3f9a1c2b7d10  last seen")

    result = CliRunner().invoke(station_cli, ["fleet", "status", "--url", pg_url])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("line2-aoi  parts=4  yield=") and "alarms=1 (camera cam0)" in \
        result.output
    result = CliRunner().invoke(station_cli, ["fleet", "status", "--url", pg_url, "--json"])
    data = json.loads(result.output)
    assert [d["name"] for d in data] == ["line1-aoi", "line2-aoi"] and data[0]["parts"] == 9
    assert set(data[0]) >= {"parts", "yield_pct", "parts_per_min", "alarms", "model_id", "last_seen", "online"}


def test_fleet_status_on_a_database_no_station_has_written_says_so(pg_url: str) -> None:
    with pytest.raises(StoreError, match="no central schema there yet"):
        fleet_status(pg_url)
    result = CliRunner().invoke(station_cli, ["fleet", "status", "--url", "postgresql://nobody@127.0.0.1:1/x",
                                              "--timeout", "2"])
    assert result.exit_code == StoreError.exit_code and "cannot read the central store" in result.output


def test_a_bad_url_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ValueError, match="expected a postgresql:// URL"):
        CentralConfig(url="mysql://db/x")


def test_a_station_with_a_central_section_replicates_and_shows_in_the_fleet(station_yaml: Path, pg_url: str) -> None:
    from inspection.config import load_station_config
    from inspection.runtime.pipeline import Station

    with station_yaml.open("a", encoding="utf-8") as f:
        f.write(f"central:\n  url: {pg_url}\n  interval_s: 0.1\n")
    config = load_station_config(station_yaml)
    assert config.central is not None and config.central.url == pg_url
    with Station(config) as station:
        assert station.replicator is not None
        station.run(max_parts=6)
        model = station.detector.model_id
        station.replicator.poke()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and station.replicator.stats.shipped["inspections"] < 6:
            time.sleep(0.05)
    (status,) = fleet_status(pg_url)
    assert (status.name, status.parts, status.model_id, status.recipe) == ("test", 6, model, "test-board")
    assert central_counts(pg_url, "test")["events"] >= 1  # station_started at least


def test_without_a_central_section_the_station_stays_embedded(station_yaml: Path) -> None:
    from inspection.config import load_station_config
    from inspection.runtime.pipeline import Station

    config = load_station_config(station_yaml)
    assert config.central is None
    with Station(config) as station:
        assert station.replicator is None


def test_a_second_station_with_the_same_name_ships_nothing_and_says_why(tmp_path: Path, pg_url: str) -> None:
    """Two stations configured with one name shared one replication mark: the second one's first rows were
    skipped as already shipped and the rest mixed with the first one's, without a word."""
    events: list[tuple[str, str, str]] = []
    for name in ("a", "b"):
        with Store(tmp_path / f"{name}.db") as store:
            record_parts(store, 6 if name == "a" else 9, time.time(), first=0 if name == "a" else 1000)
    first = Replicator(CentralConfig(url=pg_url), tmp_path / "a.db", "line1")
    first.cycle()
    second = Replicator(CentralConfig(url=pg_url), tmp_path / "b.db", "line1", event=lambda *e: events.append(e))
    with pytest.raises(Exception, match="another station .* already ships as 'line1'") as refused:
        second.cycle()
    second._down(refused.value)
    assert events and "give each station its own `name:`" in events[0][2]
    with psycopg.connect(pg_url) as conn:
        parts = [r[0] for r in conn.execute("select part_id from inspections where station = 'line1' order by 1")]
    assert parts == [f"P{i:05d}" for i in range(6)]  # only the first station's
    first.cycle()  # the owner goes on
