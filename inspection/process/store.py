"""Process tables in the station's SQLite file (beside `inspections`), via sqlite-utils.

- `process_parts`: per inspected part, the parameters in force, the defect classes counted and the
  verdict: the history the controller estimates sensitivities from;
- `process_changes`: every proposal, change and revert with before/after values, the statistics that
  triggered it, its status and who approved it (one row per proposal, updated as its status changes).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

from inspection.errors import StoreError
from inspection.process.controller import PartResult, Proposal

__all__ = ["ProcessLog"]


class ProcessLog:
    """Writes and reads the process tables. Safe to share the file with `inspection.records.store.Store` (WAL)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=5.0)
            self.db = sqlite_utils.Database(conn)
            self.db.enable_wal()
            self.db["process_parts"].create(
                {"id": int, "process": str, "part_index": int, "part_key": str, "verdict": str,
                 "model_id": str, "defects": str, "parameters": str}, pk="id", if_not_exists=True)
            self.db["process_changes"].create(
                {"id": int, "part_index": int, "created_s": float, "kind": str, "mode": str, "algorithm": str,
                 "status": str, "reason": str, "approver": str, "decided_s": float, "reverts": int,
                 "error": str, "changes": str, "stats": str}, pk="id", if_not_exists=True)
            self.db["process_parts"].create_index(["part_key"], if_not_exists=True)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the process tables in {self.path}: {exc}") from None

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> ProcessLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record_part(self, result: PartResult, process: str) -> None:
        row = {"process": process, "part_index": result.index, "part_key": result.part_key,
               "verdict": result.status.value, "model_id": result.model_id,
               "defects": json.dumps(sorted(result.defects)),
               "parameters": json.dumps(dict(result.parameters)) if result.parameters is not None else None}
        self._write(lambda: self.db["process_parts"].insert(row), f"part {result.index}")

    def save_proposal(self, proposal: Proposal) -> None:
        row = proposal.as_record()
        row["changes"] = json.dumps(row["changes"])
        row["stats"] = json.dumps(row["stats"])
        self._write(lambda: self.db["process_changes"].upsert(row, pk="id"), f"proposal #{proposal.id}")

    def proposals(self) -> list[dict[str, Any]]:
        rows = list(self.db["process_changes"].rows_where(order_by="id"))
        for row in rows:
            row["changes"] = json.loads(row["changes"])
            row["stats"] = json.loads(row["stats"])
        return rows

    def history(self, process: str | None = None) -> list[tuple[Mapping[str, float], frozenset[str]]]:
        """(parameters in force, defect classes) per non-ERROR part: input of `estimate_sensitivity`."""
        where = "parameters is not null and verdict != 'ERROR'" + (" and process = ?" if process else "")
        rows = self.db["process_parts"].rows_where(where, [process] if process else [], order_by="id")
        return [(json.loads(r["parameters"]), frozenset(json.loads(r["defects"]))) for r in rows]

    def _write(self, action: Any, what: str) -> None:
        try:
            with self._lock, self.db.conn:
                action()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot log {what} to {self.path}: {exc}") from None
