"""Disk-backed outbox for the MQTT telemetry: QoS>0 messages wait in a small SQLite file until the broker
acknowledged them, so a broker outage loses nothing across a station restart (at least once: a message
sent but not acknowledged before a restart is sent again; its CFX `UniqueID` lets a consumer drop the
repeat).

Only the MQTT adapter's own thread touches the file (paho's callbacks run in that thread too); the
station's threads keep appending to the adapter's in-memory queue, which that thread spools here every
loop. The file is bounded: beyond `max_messages` the oldest rows are dropped and counted, as the
in-memory buffer does.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from inspection.errors import ConfigError

__all__ = ["Outbox"]


class Outbox:
    """FIFO of (topic, payload) rows; `take` marks rows in flight, `done` deletes them on PUBACK."""

    def __init__(self, path: Path | str, max_messages: int) -> None:
        self.path = Path(path)
        self.max_messages = max_messages
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=5.0, check_same_thread=False)
            self._db.execute("pragma journal_mode=wal")
            self._db.execute("pragma synchronous=normal")
            self._db.execute("create table if not exists outbox (id integer primary key autoincrement, "
                             "topic text not null, payload text not null)")
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"telemetry mqtt: outbox: cannot open {self.path}: {exc}") from None
        self._in_flight: set[int] = set()

    def close(self) -> None:
        self._db.close()

    def add(self, messages: list[tuple[str, Any]]) -> int:
        """Append messages; returns how many old ones were dropped to stay within `max_messages`."""
        if not messages:
            return 0
        with self._db:
            self._db.executemany("insert into outbox (topic, payload) values (?, ?)",
                                 [(t, json.dumps(p, separators=(",", ":"), default=str)) for t, p in messages])
            excess = self.count() - self.max_messages
            if excess > 0:
                self._db.execute("delete from outbox where id in (select id from outbox order by id limit ?)",
                                 (excess,))
        return max(0, excess)

    def take(self, limit: int) -> list[tuple[int, str, str]]:
        """Up to `limit` oldest rows not in flight: (row id, topic, JSON payload); they are now in flight."""
        if limit <= 0:
            return []
        rows = self._db.execute("select id, topic, payload from outbox order by id limit ?",
                                (limit + len(self._in_flight),)).fetchall()
        out = [r for r in rows if r[0] not in self._in_flight][:limit]
        self._in_flight.update(r[0] for r in out)
        return out

    def done(self, row_id: int) -> None:
        self._in_flight.discard(row_id)
        with self._db:
            self._db.execute("delete from outbox where id = ?", (row_id,))

    def retry(self, row_id: int) -> None:
        """Not sent after all (publish refused locally): back to waiting."""
        self._in_flight.discard(row_id)

    def reset_in_flight(self) -> None:
        """After a reconnect without a kept session: everything not acknowledged is sent again."""
        self._in_flight.clear()

    def count(self) -> int:
        return int(self._db.execute("select count(*) from outbox").fetchone()[0])
