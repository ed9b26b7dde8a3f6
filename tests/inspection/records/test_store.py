from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from inspection.domain.types import (
    Box,
    Detection,
    Frame,
    FrameFailure,
    Inspection,
    Reason,
    StageTimings,
    Verdict,
    VerdictStatus,
)
from inspection.errors import StoreError
from inspection.records.store import ImageArchive, Store


def inspection(seq: int, status: VerdictStatus = VerdictStatus.PASS, timestamp_s: float | None = None) -> Inspection:
    frame = Frame(np.full((8, 8, 3), seq, np.uint8), "cam0", seq, timestamp_s or 1_700_000_000.0 + seq,
                  source=f"p{seq}.png")
    dets = (Detection("bridge", 0.9, Box(1, 1, 4, 4), class_id=0),)
    if status is VerdictStatus.PASS:
        return Inspection(frame, (), Verdict.passed(), timings=StageTimings(infer_ms=5.0, latency_ms=7.0))
    verdict = Verdict(status, (Reason("defect", "bridge ×1 (0.90)", "bridge"),))
    return Inspection(frame, dets, verdict, dets, StageTimings(latency_ms=9.0), "board", "m@abc")


def test_tables_wal_and_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db", ImageArchive(tmp_path / "img", keep="failures")) as store:
        store.record(inspection(0))
        row_id = store.record(inspection(1, VerdictStatus.FAIL))
        store.event("alarm", "camera_lost", "cam0 gone")
        assert store.counts()["PASS"] == 1 and store.counts()["FAIL"] == 1
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert {"inspections", "detections", "events", "meta"} <= tables
    row = conn.execute("select verdict, reasons, image_path, model_id, latency_ms from inspections where id=?",
                       (row_id,)).fetchone()
    assert row[0] == "FAIL" and json.loads(row[1])[0]["class_name"] == "bridge"
    assert row[2] and Path(row[2]).is_file() and row[3] == "m@abc" and row[4] == 9.0
    assert conn.execute("select counted, class_name from detections").fetchall() == [(1, "bridge")]
    # failures-only archive: the pass has no image
    assert conn.execute("select image_path from inspections where verdict='PASS'").fetchone()[0] is None


def test_failures_are_logged_without_image(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db", ImageArchive(tmp_path / "img", keep="all")) as store:
        failure = FrameFailure("cam0", 3, 1.0, "decode_error", "corrupt p3.png")
        store.record(Inspection(failure, (), Verdict.error("decode_error", "corrupt p3.png")))
        row = next(store.inspections())
    assert row["verdict"] == "ERROR" and row["failsafe"] == 1 and row["image_path"] is None


@pytest.mark.parametrize(("keep", "expected"), [("all", 10), ("none", 0), ("sample", 2), ("failures", 0)])
def test_archive_policy(tmp_path: Path, keep: str, expected: int) -> None:
    with Store(tmp_path / "s.db", ImageArchive(tmp_path / "img", keep=keep, sample_every=5)) as store:  # type: ignore[arg-type]
        for i in range(10):
            store.record(inspection(i))
    assert len(list((tmp_path / "img").rglob("*.bmp"))) == expected


def test_low_disk_stops_images_not_verdicts(tmp_path: Path) -> None:
    archive = ImageArchive(tmp_path / "img", keep="all", min_free_mb=10**12)  # more than any disk has
    with Store(tmp_path / "s.db", archive) as store:
        for i in range(3):
            store.record(inspection(i, VerdictStatus.FAIL))
        assert store.counts()["FAIL"] == 3
        assert [e["kind"] for e in store.events()] == ["disk_low"]
    assert not list((tmp_path / "img").rglob("*.bmp"))


def test_a_capped_archive_deletes_its_oldest_images_first_and_keeps_every_row(tmp_path: Path) -> None:
    """archive_max_gb: a ring. Over the cap the oldest images go (across day folders), the newest stay, every
    verdict row stays, and a station opened again on the same folder counts what is already there."""
    one = 8 * 8 * 3 + 54  # an 8x8 BMP
    day_one = ImageArchive(tmp_path / "img", keep="all", max_bytes=100 * one)
    with Store(tmp_path / "s.db", day_one) as store:
        for i in range(4):  # yesterday's parts, in their own day folder
            store.record(inspection(i, VerdictStatus.FAIL, timestamp_s=1_700_000_000.0 - 86_400 + i))
    assert day_one.used_bytes == 4 * one
    archive = ImageArchive(tmp_path / "img", keep="all", max_bytes=10 * one)
    assert archive.used_bytes == 4 * one  # measured on opening
    with Store(tmp_path / "s.db", archive) as store:
        for i in range(4, 16):
            store.record(inspection(i, VerdictStatus.FAIL))
        rows = list(store.inspections())
        events = [e for e in store.events() if e["kind"] == "archive_rolled_over"]
    kept = sorted(p.name for p in (tmp_path / "img").rglob("*.bmp"))
    assert len(rows) == 16  # every verdict row stays
    assert archive.used_bytes <= 10 * one and len(kept) == archive.used_bytes // one
    on_disk = {Path(r["image_path"]).name for r in rows if Path(r["image_path"]).is_file()}
    newest = sorted((r for r in rows), key=lambda r: r["timestamp_s"])[-len(kept):]
    assert on_disk == {Path(r["image_path"]).name for r in newest} == set(kept)  # the newest survive
    assert len([d for d in (tmp_path / "img").iterdir()]) == 1  # yesterday's emptied folder is gone
    assert events and sum(json.loads(e["data"])["deleted"] for e in events) == 16 - len(kept)


def test_a_column_name_cannot_break_out_of_the_insert(tmp_path: Path) -> None:
    """Store.insert builds its statement from the row's keys: a name with quotes in it stays a name."""
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(StoreError, match="has no column"):
            store.insert("users", {'username") VALUES (\'x\'); DROP TABLE inspections; --': "x"})
        assert store.insert("users", {"username": "eve", "role": "engineer", "secret": "s", "created": "now",
                                      "active": 1}) > 0
        assert "inspections" in store.db.table_names()


def _sequences(path: Path) -> list[int]:
    with sqlite3.connect(path) as con:
        return [r[0] for r in con.execute("select sequence from inspections order by id")]


@pytest.mark.parametrize("pattern", ["station.db*", "station.db"])
def test_a_database_deleted_while_open_is_restored_with_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   pattern: str) -> None:
    """A clean-up script deletes station.db* (or only station.db, leaving our -wal behind) mid-run: SQLite
    would keep writing into the unlinked file and lose it all at close. The store notices (an os.stat per
    FILE_CHECK_S) and copies the open connection back."""
    monkeypatch.setattr(Store, "FILE_CHECK_S", 0.0)
    path = tmp_path / "station.db"
    with Store(path) as store:
        for seq in range(3):
            store.record(inspection(seq))
        for leftover in tmp_path.glob(pattern):
            leftover.unlink()
        for seq in range(3, 6):
            store.record(inspection(seq))
    assert _sequences(path) == list(range(6))
    with sqlite3.connect(path) as con:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        (message,) = con.execute("select message from events where kind = 'db_file_lost'").fetchone()
    assert "was deleted" in message and "every row was restored" in message


def test_a_database_overwritten_while_open_goes_on_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Store, "FILE_CHECK_S", 0.0)
    path, other = tmp_path / "station.db", tmp_path / "other.db"
    sqlite3.connect(other).execute("create table mine (x)").connection.commit()
    with Store(path) as store:
        store.record(inspection(0))
        other.replace(path)  # someone restores an old backup over it
        store.record(inspection(1))
        store.record(inspection(2))  # written on in the copy, not restored again
        (restored,) = tmp_path.glob("station.restored-*.db")
        assert store.path == restored
    assert _sequences(restored) == [0, 1, 2]
    with sqlite3.connect(path) as con:  # their file is left as it is
        assert [r[0] for r in con.execute("select name from sqlite_master")] == ["mine"]


def test_a_droppable_row_gives_up_on_a_locked_database_instead_of_waiting_the_busy_timeout(tmp_path: Path) -> None:
    """Health samples are written on the listeners' thread (console, telemetry): another process holding the
    database must cost them `wait_s`, not the 5 s the verdicts are allowed to wait."""
    import time

    path = tmp_path / "station.db"
    with Store(path, timeout_s=5.0) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("begin exclusive")
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            store.insert("health", {"part_index": 1}, wait_s=0.05)
        assert time.monotonic() - started < 2.0
        other.execute("commit")
        assert store.db.conn.execute("pragma busy_timeout").fetchone()[0] == 5000  # verdicts still wait 5 s
        assert store.insert("health", {"part_index": 2}, wait_s=0.05) > 0


def test_a_log_from_a_newer_station_is_refused_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    with Store(path) as store:
        store.record(inspection(0))
    with sqlite3.connect(path) as con:
        con.execute("update meta set value = '7' where key = 'schema_version'")
    with pytest.raises(StoreError, match=r"written by a newer station \(log schema 7, this station knows 1\)"):
        Store(path)
    with sqlite3.connect(path) as con:  # left as it was
        assert con.execute("select value from meta where key = 'schema_version'").fetchone()[0] == "7"


def test_damaged_rows_are_shown_as_damaged_not_an_empty_history(tmp_path: Path) -> None:
    """A hand-edited or damaged log: one row's reasons not JSON, a detection without a confidence or with a
    text coordinate. The other rows still show; the damaged ones say so and are not drawn."""
    from inspection.records.history import detections_of, search

    path = tmp_path / "station.db"
    with Store(path) as store:
        for seq in range(3):
            store.record(inspection(seq, VerdictStatus.FAIL))
        with sqlite3.connect(path) as con:
            con.execute("update inspections set reasons = '{not json' where sequence = 1")
            con.execute("insert into detections (inspection_id, class_name, confidence, x1, y1, x2, y2, polygon) "
                        "values (1, 'bridge', NULL, 1, 2, 3, 4, 'nonsense'), (1, 'void', 0.5, 'x', 2, 3, 4, NULL), "
                        "(1, 'ok', 0.9, 1, 2, 3, 4, '[[1, 2], [3, 4], [5, 6]]')")
        rows = search(store)
        assert len(rows) == 3 and rows[1]["reasons"][0]["code"] == "unreadable"
        detections = detections_of(store, 1)
        assert [d["valid"] for d in detections][-3:] == [False, False, True]
        assert detections[-1]["polygon"] == [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]


def test_csv_export(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        for i in range(4):
            store.record(inspection(i, VerdictStatus.FAIL if i % 2 else VerdictStatus.PASS))
        assert store.export_csv(tmp_path / "all.csv") == 4
        assert store.export_csv(tmp_path / "fail.csv", "verdict = ?", ["FAIL"]) == 2
    rows = list(csv.DictReader(open(tmp_path / "fail.csv")))
    assert {r["verdict"] for r in rows} == {"FAIL"} and rows[0]["part_key"] == "cam0#1"


def test_unwritable_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "s.db").mkdir()  # a folder where the file should be
    with pytest.raises(StoreError, match="cannot open the verdict database"):
        Store(tmp_path / "ro" / "s.db")


def test_console_reads_go_through_the_store(tmp_path: Path) -> None:
    """What the console shows is read by these core functions (the console itself runs no SQL)."""
    with Store(tmp_path / "s.db") as store:
        assert store.last_event_id() == 0 and store.alarms_since(0) == []
        assert store.classes_seen() == [] and store.time_span() is None
        store.record(inspection(1, VerdictStatus.FAIL))
        store.record(inspection(2))
        store.event("info", "model_loaded", "m@abc")
        store.event("alarm", "camera_lost", "cam0 gone")
        store.event("info", "controller_proposal", "#1 waits")
        first = store.last_event_id()
        store.event("error", "disk_low", "2 MB left")
        assert [e["kind"] for e in store.alarms_since(0)] == ["camera_lost", "controller_proposal", "disk_low"]
        assert [e["kind"] for e in store.alarms_since(first)] == ["disk_low"]
        assert store.classes_seen() == ["bridge"]
        assert store.time_span() == (1_700_000_001.0, 1_700_000_002.0)
        assert store.time_span(1_700_000_002.0) == (1_700_000_002.0, 1_700_000_002.0)
        assert store.time_span(1_800_000_000.0) is None
        assert store.has_table("inspections") and not store.has_table("process_changes")


def test_a_failed_transaction_names_what_was_written(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store, pytest.raises(StoreError, match="cannot log the thing to"), \
            store.transaction("the thing") as db:
        db.execute("insert into no_such_table values (1)")


def test_foreign_keys_are_enforced_and_writes_are_not_fsynced_per_row(tmp_path: Path) -> None:
    with Store(tmp_path / "fk.db") as store:
        assert store.db.execute("pragma foreign_keys").fetchone()[0] == 1
        assert store.db.execute("pragma synchronous").fetchone()[0] == 1  # NORMAL (WAL: never corrupt)
        with pytest.raises(sqlite3.IntegrityError):
            store.db.execute("insert into detections (inspection_id, class_name) values (12345, 'bridge')")


@pytest.mark.parametrize("image_format", ["png", "bmp"])
def test_lossless_archive_formats_keep_every_pixel(tmp_path: Path, image_format: str) -> None:
    import dataclasses

    import cv2

    rng = np.random.default_rng(1)
    frame = Frame(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), "cam0", 1, 1_700_000_001.0)
    part = dataclasses.replace(inspection(1, VerdictStatus.FAIL), frame=frame)
    with Store(tmp_path / "s.db", ImageArchive(tmp_path / "img", keep="failures", image_format=image_format)) as store:
        store.record(part)
        path = Path(next(store.inspections())["image_path"])
    assert path.suffix == f".{image_format}"
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_COLOR), frame.image)


def test_table_owners_write_through_the_store_lock_while_another_thread_logs(tmp_path: Path) -> None:
    """Regression (CI, 2026-12-06): the samples table was created on the store's one connection outside its
    lock while the MQTT thread logged an alarm, and SQLite refused the interleaved COMMIT."""
    import threading

    from inspection.health.store import HealthLog
    from inspection.people.accounts import Accounts
    from inspection.records.labels import LabelBook
    from inspection.records.samples import ensure_samples_table

    errors: list[BaseException] = []
    for i in range(12):
        with Store(tmp_path / f"s{i}.db") as store:
            stop = threading.Event()

            def log_events(store: Store = store, stop: threading.Event = stop) -> None:
                try:
                    while not stop.is_set():
                        store.event("info", "tick", "another thread logs")
                except BaseException as exc:
                    errors.append(exc)

            logger = threading.Thread(target=log_events)
            logger.start()
            try:
                ensure_samples_table(store)
                HealthLog(store)
                LabelBook(store)
                Accounts(store)
            finally:
                stop.set()
                logger.join()
            assert {"samples", "health", "health_baseline", "labels", "login_attempts"} <= set(store.db.table_names())
    assert not errors, errors
