"""The audit log as a hash chain that SQLite itself will not let anyone rewrite.

Each `audit` row carries `prev_hash` (the previous row's `row_hash`; 64 zeros for the first) and `row_hash`
= SHA-256 (hex) of the canonical JSON of the row: its columns below, keys sorted, no spaces, UTF-8 — so a
copy in another database (the PostgreSQL replicator) recomputes the same hashes from the same values.
Triggers refuse UPDATE and DELETE on the table. Whoever can write the file can still drop the triggers and
rebuild the chain from the edit on; that is why the chain head (`id`, `row_hash`) is exported with the
telemetry: a copy taken off the box proves the rows up to that head.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CHAIN_COLUMNS",
    "GENESIS",
    "ChainHead",
    "ChainReport",
    "HeadReader",
    "append",
    "ensure_schema",
    "head",
    "row_hash",
    "verify",
    "verify_file",
]

GENESIS = "0" * 64
# The hashed columns, in the order of the table; `row_hash` itself is not hashed.
CHAIN_COLUMNS = ("id", "time", "timestamp_s", "username", "role", "action", "detail", "allowed", "prev_hash")
_TRIGGERS = {
    "audit_no_update": "BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only: "
                       "UPDATE refused'); END",
    "audit_no_delete": "BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only: "
                       "DELETE refused'); END",
}


@dataclass(frozen=True, slots=True)
class ChainHead:
    id: int
    row_hash: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    rows: int
    head: ChainHead | None
    broken_id: int | None = None
    reason: str = ""


def row_hash(row: dict[str, Any]) -> str:
    canonical = json.dumps({k: row[k] for k in CHAIN_COLUMNS}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Add the chain columns to an `audit` table that predates them, chain its rows once, add the triggers."""
    columns = {r[1] for r in conn.execute("pragma table_info(audit)")}
    with conn:
        for name in ("prev_hash", "row_hash"):
            if name not in columns:
                conn.execute(f"alter table audit add column {name} text")
        triggers = {r[0] for r in conn.execute("select name from sqlite_master where type = 'trigger'")}
        if not set(_TRIGGERS) <= triggers:
            # Rows written before the chain existed are chained once, in id order, before the triggers lock them.
            prev = GENESIS
            cursor = conn.execute("select * from audit order by id")
            names = [d[0] for d in cursor.description]
            for values in cursor.fetchall():
                row = dict(zip(names, values, strict=True))
                if row["row_hash"] is None:
                    row["prev_hash"] = prev
                    conn.execute("update audit set prev_hash = ?, row_hash = ? where id = ?",
                                 (prev, row_hash(row), row["id"]))
                    prev = row_hash(row)
                else:
                    prev = row["row_hash"]
            for name, body in _TRIGGERS.items():
                conn.execute(f"create trigger if not exists {name} {body}")


def append(conn: sqlite3.Connection, row: dict[str, Any]) -> int:
    """Insert one audit row at the end of the chain; returns its id.

    BEGIN IMMEDIATE takes the write lock before the last hash is read, so two processes (console and CLI)
    cannot both chain onto the same row."""
    if conn.in_transaction:
        conn.commit()
    conn.execute("begin immediate")
    try:
        last = conn.execute("select id, row_hash from audit order by id desc limit 1").fetchone()
        full = {**row, "id": (last[0] + 1) if last else 1, "prev_hash": last[1] if last else GENESIS}
        full["row_hash"] = row_hash(full)
        names = ", ".join(full)
        conn.execute(f"insert into audit ({names}) values ({', '.join('?' * len(full))})", list(full.values()))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return int(full["id"])


def head(conn: sqlite3.Connection) -> ChainHead | None:
    last = conn.execute("select id, row_hash from audit order by id desc limit 1").fetchone()
    return ChainHead(int(last[0]), str(last[1])) if last else None


def verify(conn: sqlite3.Connection, expected_head: ChainHead | None = None) -> ChainReport:
    """Recompute the chain; the first row whose hash, link or id does not follow is reported.

    `expected_head` (from an exported copy) also proves that no rows were cut off the end."""
    prev, count, last = GENESIS, 0, None
    cursor = conn.execute("select * from audit order by id")
    names = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        count += 1
        expected_id = (last.id + 1) if last else 1
        if row["id"] != expected_id:
            return ChainReport(False, count, last, row["id"], f"row {row['id']} follows row {expected_id - 1}: "
                               f"row {expected_id} is missing (deleted)")
        if row["prev_hash"] != prev:
            return ChainReport(False, count, last, row["id"], f"row {row['id']} does not link to row "
                               f"{row['id'] - 1} (prev_hash differs): a row was changed, removed or inserted")
        if row["row_hash"] != row_hash(row):
            return ChainReport(False, count, last, row["id"], f"row {row['id']} was changed after it was "
                               f"written (its hash does not match its content)")
        prev, last = row["row_hash"], ChainHead(row["id"], row["row_hash"])
    if expected_head is not None and (last is None or last.id < expected_head.id):
        return ChainReport(False, count, last, expected_head.id,
                           f"the exported head is row {expected_head.id}, the log ends at "
                           f"{last.id if last else 'nothing'}: rows were cut off the end")
    if expected_head is not None:
        at = conn.execute("select row_hash from audit where id = ?", (expected_head.id,)).fetchone()
        if at is None or at[0] != expected_head.row_hash:
            return ChainReport(False, count, last, expected_head.id,
                               f"row {expected_head.id} differs from the exported head: the log was rewritten")
    return ChainReport(True, count, last)


def verify_file(path: Path, expected_head: ChainHead | None = None) -> ChainReport:
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=5.0)
    try:
        return verify(conn, expected_head)
    finally:
        conn.close()



class HeadReader:
    """The current chain head for telemetry, from its own read-only connection, re-read at most every
    `max_age_s` (the head changes only when a person acts; a part must not wait on it)."""

    def __init__(self, path: Path, max_age_s: float = 1.0) -> None:
        import threading
        import time

        self._clock = time.monotonic
        self._conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=1.0, check_same_thread=False)
        self._lock = threading.Lock()
        self._max_age_s = max_age_s
        self._cached: tuple[float, dict[str, Any] | None] | None = None

    def __call__(self) -> dict[str, Any] | None:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._cached[0] > self._max_age_s:
                try:
                    current = head(self._conn)
                except sqlite3.Error:  # telemetry must not fail a part; the last known head stays
                    return self._cached[1] if self._cached else None
                self._cached = (now, {"id": current.id, "row_hash": current.row_hash} if current else None)
            return self._cached[1]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
