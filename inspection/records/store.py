"""Verdict log (SQLite in WAL mode, via sqlite-utils) and the image archive on disk.

Tables:
- `inspections`: one row per part: identity, verdict, reasons, model, recipe, stage timings, image path;
- `detections`: every detection of every part, with `counted` = 1 where the recipe counted it, its size in mm
  (`area_mm2`, `diameter_mm`, `length_mm`, `width_mm`; NULL when the recipe does not measure) and its `zone`;
- `events`: alarms and state changes (camera lost, disk low, model loaded, …);
- `meta`: schema version;
- `users`, `audit`, `overrides`: console accounts, the audit log, verdict overrides awaiting review.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import cv2
import sqlite_utils

from inspection.domain.codes import AlarmKind
from inspection.domain.counts import zero_counts
from inspection.domain.types import STAGES, Frame, Inspection
from inspection.errors import StoreError
from inspection.security import audit_chain
from inspection.security.inputs import csv_cell

log = logging.getLogger(__name__)

__all__ = ["SCHEMA_VERSION", "ImageArchive", "Store", "heatmap_path"]

SCHEMA_VERSION = 1
KeepImages = Literal["all", "failures", "sample", "none"]


MEASURE_COLUMNS: dict[str, type] = {"area_mm2": float, "diameter_mm": float, "length_mm": float,
                                    "width_mm": float, "zone": str}
_NO_MEASURES = dict.fromkeys(("area_mm2", "diameter_mm", "length_mm", "width_mm"))


def _identifier(name: str) -> str:
    """A table or column name quoted for SQL (a quote inside it doubled: never a way out of the name)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_value(value: Any) -> Any:
    """What sqlite-utils would store: containers as JSON, the rest as they are."""
    return json.dumps(value, default=repr, ensure_ascii=False) if isinstance(value, (dict, list, tuple)) else value


def heatmap_path(image_path: Path | str) -> Path:
    """Where the archive keeps a part's anomaly heat map: `<image stem>.heat.png` beside its image
    (uint8 gray, 128 = the model's threshold; see `inspection.anomaly.overlay`)."""
    image_path = Path(image_path)
    return image_path.with_name(f"{image_path.stem}.heat.png")


def _file_identities(path: Path) -> dict[str, tuple[int, int]]:
    """(device, inode) of a database file ("") and its "-wal" / "-shm" companions, for those that exist."""
    out = {}
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            stat = os.stat(f"{path}{suffix}")
            out[suffix] = (stat.st_dev, stat.st_ino)
    return out


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


class ImageArchive:
    """Keeps part images on disk by policy: all, failures only, a 1-in-N sample of passes, or none.

    With `max_bytes` the archive is a ring: when a new image takes it over the cap, the oldest images go
    (oldest day folder first, in name order, which is time order) until it is 5 % under the cap. Their
    verdict rows stay; the console then says the image is gone. Without a cap, images stop when the disk
    gets below `min_free_mb` (an alarm; verdicts are still logged)."""

    def __init__(self, root: Path, keep: KeepImages = "failures", sample_every: int = 20,
                 image_format: str = "bmp", min_free_mb: int = 200, max_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.keep = keep
        self.sample_every = sample_every
        self.image_format = image_format
        self.min_free_mb = min_free_mb
        self.max_bytes = max_bytes
        self._passes_seen = 0
        self.skipped_low_disk = 0
        self.used_bytes = self._measure() if max_bytes else 0
        self.rolled_off = 0  # images deleted by the cap since the last `take_rolled_off`

    def sweep_temp(self, days: int = 2) -> int:
        """Remove temp files a killed station left in the newest day folders (never referenced by a row: the
        row is written after the rename). Returns how many were removed."""
        removed = 0
        for folder in self._day_folders()[::-1][:days]:
            for temp in folder.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    temp.unlink()
                    removed += 1
        return removed

    def _measure(self) -> int:
        """Bytes of the images already archived (once, when the station opens)."""
        total = 0
        for folder in self._day_folders():
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                total += sum(e.stat().st_size for e in entries if e.is_file() and not e.name.startswith("."))
        return total

    def _day_folders(self) -> list[Path]:
        try:
            return sorted(p for p in self.root.iterdir() if p.is_dir())
        except OSError:
            return []

    def _roll(self, newest: Path) -> None:
        """Delete the oldest images until the archive is 5 % under its cap (a batch, not one per new image);
        never `newest`, the image just written (and its heat map)."""
        assert self.max_bytes is not None
        target = int(self.max_bytes * 0.95)
        for folder in self._day_folders():
            try:
                files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
            except OSError:
                continue
            for path in files:
                if self.used_bytes <= target:
                    return
                if path.stem.split(".")[0] == newest.stem:
                    continue
                try:
                    size = path.stat().st_size
                    path.unlink()
                except OSError:
                    continue
                self.used_bytes -= size
                self.rolled_off += 0 if path.name.endswith(".heat.png") else 1
            with contextlib.suppress(OSError):
                folder.rmdir()  # an emptied day

    def take_rolled_off(self) -> int:
        count, self.rolled_off = self.rolled_off, 0
        return count

    def wants(self, inspection: Inspection, keep: KeepImages | None = None) -> bool:
        policy = keep or self.keep
        if not isinstance(inspection.frame, Frame) or policy == "none":
            return False
        if policy == "all" or inspection.verdict.status.rejects:
            return policy != "none"
        if policy == "sample":
            self._passes_seen += 1
            return self._passes_seen % self.sample_every == 1
        return False

    def save(self, inspection: Inspection) -> Path | None:
        """Write the image atomically (temp file, fsync, rename): a row never points at a half-written file.
        None when the disk is too full; StoreError for any other failure (full, read-only, vanished, I/O,
        permission)."""
        frame = inspection.frame
        assert isinstance(frame, Frame)
        day = datetime.fromtimestamp(frame.timestamp_s, tz=UTC).strftime("%Y-%m-%d")
        folder = self.root / day
        name = f"{int(frame.timestamp_s * 1000)}_{frame.camera_id}_{frame.sequence:08d}_{inspection.verdict.status}"
        path = folder / f"{name}.{self.image_format}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(folder).free < self.min_free_mb * 1_000_000:
                self.skipped_low_disk += 1
                return None
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}; check the archive folder") from None
        ok, data = cv2.imencode(f".{self.image_format}", frame.image)
        if not ok:
            raise StoreError(f"cannot encode image for part {frame.key}")
        _write_atomic(path, data.tobytes())
        written = len(data)
        if inspection.heatmap is not None:
            written += self._save_heatmap(inspection.heatmap, path)
        if self.max_bytes:
            self.used_bytes += written
            if self.used_bytes > self.max_bytes:
                self._roll(path)
        return path

    @staticmethod
    def _save_heatmap(heat: Any, image_path: Path) -> int:
        """The anomaly heat map beside its image, so the console can show it later (always PNG: lossless).
        Returns its size in bytes."""
        target = heatmap_path(image_path)
        ok, data = cv2.imencode(".png", heat)
        try:
            if not ok:
                raise StoreError(f"cannot encode the heat map {target.name}")
            _write_atomic(target, data.tobytes())
        except StoreError:  # all or nothing: an image without its heat map would look like a plain part
            image_path.unlink(missing_ok=True)
            raise
        return len(data)


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename: after a crash the final name holds the whole image or does not exist."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}; free disk space or fix the archive "
                         "folder") from None


class Store:
    """The station's SQLite file. Safe to read from other processes while the station writes (WAL)."""

    def __init__(self, path: Path | str, archive: ImageArchive | None = None, timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.archive = archive
        self._lock = threading.Lock()
        # (kind, message, active): told when the archive starts or stops failing; None = log it as an event here
        self.alarm_hook: Callable[[str, str, bool], None] | None = None
        self.archive_failures = 0  # images lost since the archive last worked (the alarm's running count)
        self.archive_failures_total = 0
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self._timeout_s = timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = self._connect(self.path)
            self._create_schema()
            self._file_ids = _file_identities(self.path)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the verdict database {self.path}: {exc}") from None
        self._file_checked = time.monotonic()

    def _connect(self, path: Path) -> sqlite_utils.Database:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=self._timeout_s)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        conn.execute("pragma foreign_keys = on")
        # WAL + NORMAL: no fsync per commit (7 ms → 1 ms a row here), still never corrupt; a kill -9 loses
        # nothing committed, a power cut at most the last commits (see docs/reliability.md)
        conn.execute("pragma synchronous = normal")
        return db

    FILE_CHECK_S = 1.0
    """How often `record_row` checks that the database file is still the one it writes to (an os.stat)."""

    def _check_file(self) -> None:
        """Someone deleted (or moved, or overwrote) the database file while the station has it open. SQLite
        would go on writing into the unlinked file, and every verdict would vanish with it at close. So the
        open connection — which still sees every committed row — is copied with SQLite's backup API to the
        path (or, when another file now stands there, beside it), writing goes on in the copy, and an alarm
        event says what happened. The caller holds the lock."""
        self._file_checked = time.monotonic()
        current = _file_identities(self.path)
        if current.get("") == self._file_ids.get(""):
            return
        replaced = "" in current  # another file stands at the path now: leave it, restore beside it
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.stem}.restored-{stamp}{self.path.suffix}") if replaced \
            else self.path
        try:
            # Our own -wal / -shm left under the old name (we hold them open) would be replayed into whatever
            # database opens that name next: the restored one, or the file that replaced ours.
            for suffix in ("-wal", "-shm"):
                if suffix in current and current[suffix] == self._file_ids.get(suffix):
                    Path(f"{self.path}{suffix}").unlink()
            restored = self._connect(target)
            self.db.conn.backup(restored.conn)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"the verdict database {self.path} was deleted or replaced, and restoring it to "
                             f"{target} failed: {exc}") from None
        with contextlib.suppress(sqlite3.Error):
            self.db.conn.close()  # SQLite sees the file moved: no checkpoint, nothing deleted by name
        message = (f"the verdict database {self.path} was {'replaced by another file' if replaced else 'deleted'} "
                   f"while the station had it open; every row was restored from the open connection to {target}, "
                   "and logging goes on there" + (f" (the file now at {self.path.name} was left as it is)"
                                                  if replaced else "")
                   + ": find out who removes files under the data directory")
        self.db, self.path, self._file_ids, self._insert_sql = restored, target, _file_identities(target), {}
        log.error("%s", message)
        self.db["events"].insert({"time": _iso(time.time()), "level": "alarm", "kind": AlarmKind.DB_FILE_LOST.value,
                                  "message": message, "data": json.dumps({"restored_to": str(target)})})

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------

    def record(self, inspection: Inspection, keep_images: KeepImages | None = None) -> int:
        """Log one part (and its image, by policy). Returns the row id. An archive failure costs the image,
        never the row; StoreError only when the row itself cannot be written."""
        return self.record_row(inspection, self.archive_image(inspection, keep_images))

    def archive_image(self, inspection: Inspection, keep_images: KeepImages | None = None) -> Path | None:
        """The part's image by policy; None when not wanted or not written. Never raises: a failing archive
        raises one alarm (with a running count of the images lost) and clears it when writes work again."""
        if self.archive is None or not self.archive.wants(inspection, keep_images):
            return None
        try:
            image_path = self.archive.save(inspection)
        except Exception as exc:  # any failure of the archive costs this image only
            self.archive_failures += 1
            self.archive_failures_total += 1
            self._archive_alarm(True, f"{exc}; images are not archived, verdicts still are")
            return None
        if image_path is None:
            if self.archive.skipped_low_disk == 1:
                self._archive_alarm(True, f"less than {self.archive.min_free_mb} MB free under {self.archive.root}: "
                                    "images are no longer archived; verdicts still are", kind="disk_low")
            return None
        if self.archive_failures:
            lost, self.archive_failures = self.archive_failures, 0
            self._archive_alarm(False, f"the image archive works again; {lost} image(s) were not archived")
        if rolled := self.archive.take_rolled_off():
            with contextlib.suppress(StoreError):  # a note in the log; the image itself was written
                self.event("info", "archive_rolled_over", f"the image archive reached its cap of "
                           f"{self.archive.max_bytes / 1e9:.3g} GB: the {rolled} oldest image(s) were deleted",
                           {"deleted": rolled, "used_bytes": self.archive.used_bytes})
        return image_path

    def _archive_alarm(self, active: bool, message: str, kind: str = "archive_write_failed") -> None:
        if self.alarm_hook is not None:  # every failure: the hook folds repeats into one alarm with a count
            self.alarm_hook(kind, message, active)
            return
        if active and self.archive_failures > 1:
            return  # on its own the store logs the first failure of a run of them, and the recovery
        with contextlib.suppress(StoreError):
            self.event("alarm" if active else "info", kind if active else f"{kind}_cleared", message,
                       {"count": self.archive_failures_total})

    def record_row(self, inspection: Inspection, image_path: Path | None) -> int:
        """Write the verdict row (and its detections) in one transaction. Returns the row id."""
        row = self._inspection_row(inspection, image_path)
        try:
            with self._lock:
                if time.monotonic() - self._file_checked >= self.FILE_CHECK_S:
                    self._check_file()
                with self.db.conn:
                    row_id = self._insert_rows("inspections", [row])
                    self._insert_rows("detections", self._detection_rows(inspection, row_id))
                    self._insert_rows("refdes_results", self._refdes_rows(inspection, row_id))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot log part {inspection.frame.key} to {self.path}: {exc}") from None
        return row_id

    def _insert_rows(self, table: str, rows: list[dict[str, Any]]) -> int:
        """INSERT rows into one of the store's own tables through a cached statement; the last row id.
        The caller holds the lock and the transaction. (sqlite-utils' insert re-reads the table's schema on
        every call: ~0.2 ms a part on the recorder thread, more than the write.)"""
        last = 0
        for row in rows:
            columns = tuple(row)
            sql = self._insert_sql.get((table, columns))
            if sql is None:
                names = ", ".join(map(_identifier, columns))
                sql = self._insert_sql[(table, columns)] = (
                    f'INSERT INTO {_identifier(table)} ({names}) VALUES ({", ".join("?" * len(columns))})')
            last = self.db.conn.execute(sql, [_sql_value(v) for v in row.values()]).lastrowid or 0
        return last

    def event(self, level: str, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        try:
            with self._lock, self.db.conn:
                self.db["events"].insert({"time": _iso(time.time()), "level": level, "kind": kind,
                                          "message": message, "data": json.dumps(data or {})})
        except sqlite3.Error as exc:
            raise StoreError(f"cannot log event {kind} to {self.path}: {exc}") from None

    def insert(self, table: str, row: dict[str, Any], wait_s: float | None = None) -> int:
        """Insert one row into a console table (users, audit, overrides). Returns its primary key.

        `wait_s`: give up with StoreError after that long instead of the busy timeout — for rows that may be
        dropped (health trend samples) and are written on a thread others wait for (the console's listeners)."""
        if not self._lock.acquire(timeout=-1 if wait_s is None else wait_s):
            raise StoreError(f"cannot write to {table} in {self.path}: the database is busy")
        try:
            with self._busy_timeout(wait_s), self.db.conn:
                try:
                    return self._insert_rows(table, [row])
                except sqlite3.OperationalError as exc:
                    if "no such table" not in str(exc):
                        raise
                    return int(self.db[table].insert(row).last_pk)  # sqlite-utils creates it from the row
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to {table} in {self.path}: {exc}") from None
        finally:
            self._lock.release()

    @contextmanager
    def _busy_timeout(self, wait_s: float | None) -> Iterator[None]:
        """SQLite's wait for another process's lock, shortened for one statement (the caller holds the lock)."""
        if wait_s is None:
            yield
            return
        self.db.conn.execute(f"pragma busy_timeout = {int(wait_s * 1000)}")
        try:
            yield
        finally:
            self.db.conn.execute(f"pragma busy_timeout = {int(self._timeout_s * 1000)}")

    def append_audit(self, row: dict[str, Any]) -> int:
        """Append one row to the hash-chained audit log (see inspection.security.audit_chain)."""
        try:
            with self._lock:
                return audit_chain.append(self.db.conn, row)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to audit in {self.path}: {exc}") from None

    def update(self, table: str, pk: Any, values: dict[str, Any]) -> None:
        try:
            with self._lock, self.db.conn:
                self.db[table].update(pk, values)
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"{table}: no row {pk!r} in {self.path}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"cannot update {table} in {self.path}: {exc}") from None

    @contextmanager
    def transaction(self, what: str) -> Iterator[sqlite_utils.Database]:
        """Write through this store's one connection, under its lock, in one transaction: for the other
        owners of tables in this file (the process log). A failure becomes StoreError naming `what`."""
        try:
            with self._lock, self.db.conn:
                yield self.db
        except sqlite3.Error as exc:
            raise StoreError(f"cannot log {what} to {self.path}: {exc}") from None

    def has_table(self, name: str) -> bool:
        return bool(self.query("select 1 from sqlite_master where type = 'table' and name = ?", [name]))

    def query(self, sql: str, params: dict[str, Any] | list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run a read-only query; rows as dicts. Errors (locked, corrupt) become StoreError."""
        try:
            cursor = self.db.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from None

    # --- reading -------------------------------------------------------------------------------

    def last_event_id(self) -> int:
        """Id of the newest event (0 when none): where a console starts polling."""
        return int(self.query("select max(id) as m from events")[0]["m"] or 0)

    def alarms_since(self, event_id: int) -> list[dict[str, Any]]:
        """Alarm/error events and controller proposals logged after `event_id` (also by other processes)."""
        return self.query("select * from events where id > ? and (level in ('alarm', 'error') or "
                          "kind like 'controller_proposal%') order by id", [event_id])

    def classes_seen(self, limit: int = 200) -> list[str]:
        """Class names of all logged detections, sorted."""
        return [r["class_name"] for r in self.query(
            "select distinct class_name from detections order by class_name limit ?", [limit])]

    def time_span(self, since_s: float = 0.0) -> tuple[float, float] | None:
        """(first, last) part timestamp at or after `since_s`; None when there is none."""
        row = self.query("select min(timestamp_s) as a, max(timestamp_s) as b from inspections "
                         "where timestamp_s >= ?", [since_s])[0]
        return None if row["a"] is None else (float(row["a"]), float(row["b"]))

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("select verdict, count(*) from inspections group by verdict").fetchall()
        counts = zero_counts()
        counts.update({v: n for v, n in rows})
        return counts

    def inspections(self, where: str | None = None, params: dict[str, Any] | list[Any] | None = None,
                    order_by: str = "id") -> Iterator[dict[str, Any]]:
        return self.db["inspections"].rows_where(where, params or [], order_by=order_by)

    def events(self) -> list[dict[str, Any]]:
        return list(self.db["events"].rows_where(order_by="id"))

    def export_csv(self, out: Path, where: str | None = None, params: list[Any] | None = None) -> int:
        """Write the verdict log as CSV (one row per part). Returns the number of rows."""
        columns = [c.name for c in self.db["inspections"].columns]
        count = 0
        with open(out, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in self.inspections(where, params):  # part ids, recipes… come from outside: no formulas
                writer.writerow({k: csv_cell(v) for k, v in row.items()})
                count += 1
        return count

    # --- internals -----------------------------------------------------------------------------

    def _create_schema(self) -> None:
        db = self.db
        if "meta" in db.table_names():  # a log written by a newer station: reading it as ours would change it
            stored = db.execute("select value from meta where key = 'schema_version'").fetchone()
            if stored is not None and str(stored[0]).isdigit() and int(stored[0]) > SCHEMA_VERSION:
                db.conn.close()
                raise StoreError(f"{self.path} was written by a newer station (log schema {stored[0]}, this "
                                 f"station knows {SCHEMA_VERSION}); update this station, or give it a new "
                                 "database file (--db)")
        timing_columns = {f"{s}_ms": float for s in STAGES} | {"latency_ms": float}
        db["inspections"].create(
            {"id": int, "time": str, "timestamp_s": float, "part_key": str, "part_id": str,
             "camera_id": str, "sequence": int, "recipe": str, "model_id": str, "verdict": str,
             "failsafe": int, "reasons": str, "n_detections": int, "n_defects": int,
             "image_path": str, "source": str} | timing_columns,
            pk="id", if_not_exists=True,
        )
        db["detections"].create(
            {"id": int, "inspection_id": int, "class_name": str, "class_id": int, "confidence": float,
             "x1": float, "y1": float, "x2": float, "y2": float, "area_px": float, "polygon": str,
             "source": str, "counted": int},
            pk="id", foreign_keys=[("inspection_id", "inspections", "id")], if_not_exists=True,
        )
        db["events"].create({"id": int, "time": str, "level": str, "kind": str, "message": str,
                             "data": str}, pk="id", if_not_exists=True)
        db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
        # Who wrote this log, for the central store: two stations configured with one name must not mix rows.
        db.execute("insert or ignore into meta (key, value) values ('instance_id', ?)", [uuid.uuid4().hex])
        db["inspections"].create_index(["time"], if_not_exists=True)
        db["inspections"].create_index(["verdict"], if_not_exists=True)
        db["inspections"].create_index(["part_key"], if_not_exists=True)
        db["detections"].create_index(["inspection_id"], if_not_exists=True)
        # Sizes in mm (issue 23): added to databases made before them, so an old station.db keeps working.
        have = db["detections"].columns_dict
        for column, kind in MEASURE_COLUMNS.items():
            if column not in have:
                db["detections"].add_column(column, kind)
        # AOI: one row per failing window of a part, by reference designator ("R12 pin 2: short").
        db["refdes_results"].create(
            {"id": int, "inspection_id": int, "refdes": str, "pin": str, "class_name": str, "check_name": str,
             "confidence": float, "source": str, "x1": float, "y1": float, "x2": float, "y2": float,
             "counted": int, "attributes": str},
            pk="id", foreign_keys=[("inspection_id", "inspections", "id")], if_not_exists=True,
        )
        db["refdes_results"].create_index(["inspection_id"], if_not_exists=True)
        db["refdes_results"].create_index(["refdes"], if_not_exists=True)
        self._create_console_schema()

    def _create_console_schema(self) -> None:
        """Accounts, audit log and verdict overrides (see inspection.domain.permissions / inspection.people.audit)."""
        db = self.db
        db["users"].create({"username": str, "role": str, "secret": str, "created": str, "active": int},
                           pk="username", if_not_exists=True)
        db["audit"].create({"id": int, "time": str, "timestamp_s": float, "username": str, "role": str,
                            "action": str, "detail": str, "allowed": int, "prev_hash": str, "row_hash": str},
                           pk="id", if_not_exists=True)
        audit_chain.ensure_schema(db.conn)  # hash chain + triggers that refuse UPDATE/DELETE
        db["overrides"].create(
            {"id": int, "inspection_id": int, "time": str, "username": str, "old_verdict": str,
             "new_verdict": str, "reason": str, "status": str, "reviewed_by": str, "reviewed_time": str,
             "review_note": str},
            pk="id", foreign_keys=[("inspection_id", "inspections", "id")], if_not_exists=True,
        )
        db["overrides"].create_index(["status"], if_not_exists=True)
        db["detections"].create_index(["class_name"], if_not_exists=True)
        db["inspections"].create_index(["timestamp_s"], if_not_exists=True)

    @staticmethod
    def _inspection_row(inspection: Inspection, image_path: Path | None) -> dict[str, Any]:
        frame, verdict = inspection.frame, inspection.verdict
        return {
            "time": _iso(frame.timestamp_s), "timestamp_s": frame.timestamp_s, "part_key": frame.key,
            "part_id": frame.part_id, "camera_id": frame.camera_id, "sequence": frame.sequence,
            "recipe": inspection.recipe, "model_id": inspection.model_id, "verdict": verdict.status.value,
            "failsafe": int(verdict.failsafe),
            "reasons": json.dumps([{"code": r.code, "message": r.message, "class_name": r.class_name}
                                   for r in verdict.reasons]),
            "n_detections": len(inspection.detections), "n_defects": len(inspection.defects),
            "image_path": str(image_path) if image_path else None, "source": frame.source,
        } | inspection.timings.as_dict()

    @staticmethod
    def _refdes_rows(inspection: Inspection, inspection_id: int) -> list[dict[str, Any]]:
        """Detections that name a reference designator (AOI windows), for per-RefDes verdicts."""
        counted = {id(d) for d in inspection.defects}
        return [
            {"inspection_id": inspection_id, "refdes": d.attributes["refdes"], "pin": d.attributes.get("pin"),
             "class_name": d.class_name, "check_name": d.attributes.get("check"), "confidence": d.confidence,
             "source": d.source, "x1": d.box.x1, "y1": d.box.y1, "x2": d.box.x2, "y2": d.box.y2,
             "counted": int(id(d) in counted), "attributes": json.dumps(dict(d.attributes))}
            for d in inspection.detections if d.attributes.get("refdes")
        ]

    def refdes_results(self, inspection_id: int) -> list[dict[str, Any]]:
        """The failing AOI windows of one part, ordered by RefDes and pin (for the console's failure view)."""
        return list(self.db["refdes_results"].rows_where("inspection_id = ?", [inspection_id],
                                                         order_by="refdes, pin, id"))

    @staticmethod
    def _detection_rows(inspection: Inspection, inspection_id: int) -> list[dict[str, Any]]:
        counted = {id(d) for d in inspection.defects}
        return [
            {"inspection_id": inspection_id, "class_name": d.class_name, "class_id": d.class_id,
             "confidence": d.confidence, "x1": d.box.x1, "y1": d.box.y1, "x2": d.box.x2, "y2": d.box.y2,
             "area_px": d.area_px, "polygon": json.dumps(d.polygon) if d.polygon else None,
             "source": d.source, "counted": int(id(d) in counted), "zone": d.attributes.get("zone"),
             **(d.measures.as_dict() if d.measures is not None else _NO_MEASURES)}
            for d in inspection.detections
        ]
