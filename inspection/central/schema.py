"""Central schema: numbered SQL migrations (`migrations/NNNN_name.sql`) and daily partitions.

`migrate` applies the files not yet recorded in `schema_migrations`, in order, each in its own
transaction, under an advisory lock (several stations may start at once). `ensure_partitions` creates the
day partitions a batch needs (`inspections_p20261206` for 2026-12-06 UTC) under the same kind of lock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

__all__ = ["MIGRATIONS", "PARTITIONED", "ensure_partitions", "migrate", "migrations", "schema_version"]

MIGRATIONS = Path(__file__).with_name("migrations")
PARTITIONED = ("inspections", "detections", "refdes_results", "events", "health")
_LOCK_MIGRATE = 0x5157_0001  # advisory lock ids (any constant shared by every station)
_LOCK_PARTITION = 0x5157_0002


def migrations() -> list[tuple[int, str, Path]]:
    """(version, name, file) of every migration shipped with this package, in order."""
    out = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", path.name)
        if match is None:
            raise ValueError(f"{path}: a migration is named NNNN_name.sql")
        out.append((int(match.group(1)), match.group(2), path))
    versions = [v for v, _, _ in out]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{MIGRATIONS}: migrations must be numbered 1, 2, 3 … without gaps, got {versions}")
    return out


def schema_version(conn: Any) -> int:
    row = conn.execute("select to_regclass('schema_migrations') is not null").fetchone()
    if not row[0]:
        return 0
    return int(conn.execute("select coalesce(max(version), 0) from schema_migrations").fetchone()[0])


def migrate(conn: Any) -> int:
    """Bring the database to the newest schema. Returns the version. `conn` is a psycopg connection."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_MIGRATE,))
        conn.execute("create table if not exists schema_migrations (version int primary key, name text not null, "
                     "applied timestamptz not null default now())")
    current = schema_version(conn)
    known = migrations()
    if current > len(known):
        raise RuntimeError(f"the central database is at schema version {current}, this station knows only "
                           f"{len(known)}: update the station software")
    for version, name, path in known[current:]:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_MIGRATE,))
            done = conn.execute("select 1 from schema_migrations where version = %s", (version,)).fetchone()
            if done:  # another station applied it while we waited for the lock
                continue
            conn.execute(path.read_text(encoding="utf-8"))
            conn.execute("insert into schema_migrations (version, name) values (%s, %s)", (version, name))
    return len(known)


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def ensure_partitions(conn: Any, table: str, days: Iterable[date], known: set[tuple[str, date]]) -> None:
    """Create the day partitions of `table` that `known` does not list yet (and add them to it)."""
    if table not in PARTITIONED:
        raise ValueError(f"{table} is not partitioned (partitioned: {', '.join(PARTITIONED)})")
    wanted = sorted({d for d in days if (table, d) not in known})
    if not wanted:
        return
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_PARTITION,))
        for day in wanted:
            name = partition_name(table, day)
            conn.execute(f"create table if not exists {name} partition of {table} "  # names built here, not input
                         f"for values from ('{day.isoformat()}') to ('{(day + timedelta(days=1)).isoformat()}')")
    known.update((table, d) for d in wanted)
