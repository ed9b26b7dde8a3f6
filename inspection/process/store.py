"""Process tables in the station's SQLite file (beside `inspections`), via sqlite-utils.

- `process_parts`: per inspected part, the parameters in force, the defect classes counted and the
  verdict: the history the controller estimates sensitivities from;
- `process_changes`: every proposal, change and revert with before/after values, the statistics that
  triggered it, its status and who approved it (one row per proposal, updated as its status changes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inspection.errors import StoreError
from inspection.process.controller import PartResult, Proposal
from inspection.records.store import Store

__all__ = ["ProcessLog", "parameters_in_force", "pending_proposals", "recent_proposals"]


class ProcessLog:
    """Writes and reads the process tables through the station's `Store` (its one connection and lock).

    Give it the station's open `Store` to share it, or a path to open (and own) one.
    """

    def __init__(self, store: Store | Path | str) -> None:
        self._owns_store = not isinstance(store, Store)
        self.store = Store(store) if self._owns_store else store  # type: ignore[arg-type]
        self.path = self.store.path
        self.db = self.store.db
        try:
            with self.store.transaction("the process tables"):
                self.db["process_parts"].create(
                    {"id": int, "process": str, "part_index": int, "part_key": str, "verdict": str,
                     "model_id": str, "defects": str, "parameters": str}, pk="id", if_not_exists=True)
                self.db["process_changes"].create(
                    {"id": int, "part_index": int, "created_s": float, "kind": str, "mode": str, "algorithm": str,
                     "status": str, "reason": str, "approver": str, "decided_s": float, "reverts": int,
                     "error": str, "changes": str, "stats": str}, pk="id", if_not_exists=True)
                self.db["process_parts"].create_index(["part_key"], if_not_exists=True)
        except StoreError:
            self.close()
            raise

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> ProcessLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record_part(self, result: PartResult, process: str) -> None:
        row = {"process": process, "part_index": result.index, "part_key": result.part_key,
               "verdict": result.status.value, "model_id": result.model_id,
               "defects": json.dumps(sorted(result.defects)),
               "parameters": json.dumps(dict(result.parameters)) if result.parameters is not None else None}
        with self.store.transaction(f"part {result.index}") as db:
            db["process_parts"].insert(row)

    def save_proposal(self, proposal: Proposal) -> None:
        row = proposal.as_record()
        row["changes"] = json.dumps(row["changes"])
        row["stats"] = json.dumps(row["stats"])
        with self.store.transaction(f"proposal #{proposal.id}") as db:
            db["process_changes"].upsert(row, pk="id")

    def claim(self, proposal_id: int, status: str) -> str | None:
        """Move a proposal from pending to `status` in one statement, so two processes (a console, the CLI,
        the station) cannot both decide it. None when this call decided it (or it was never stored here);
        otherwise the status someone else gave it."""
        with self.store.transaction(f"proposal #{proposal_id}") as db:
            if "process_changes" not in db.table_names():
                return None
            done = db.execute("update process_changes set status = ? where id = ? and status = 'pending'",
                              [status, proposal_id]).rowcount
            if done:
                return None
            row = db.execute("select status from process_changes where id = ?", [proposal_id]).fetchone()
            return None if row is None else str(row[0])

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


# --- read-only views for the console (never create tables: viewing must not change the file) ---------


def pending_proposals(store: Store) -> int:
    """Number of controller proposals waiting for approval (0 when the controller never ran here)."""
    if not store.has_table("process_changes"):
        return 0
    return int(store.query("select count(*) as n from process_changes where status = 'pending'")[0]["n"])


def recent_proposals(store: Store, limit: int = 500) -> list[dict[str, Any]] | None:
    """The newest proposals first, raw rows (`changes`/`stats` as JSON text); None without process tables."""
    if not store.has_table("process_changes"):
        return None
    return store.query("select * from process_changes order by id desc limit ?", [limit])


def parameters_in_force(store: Store) -> dict[str, float] | None:
    """The process parameters of the newest logged part; None when none were logged."""
    if not store.has_table("process_parts"):
        return None
    rows = store.query("select parameters from process_parts where parameters is not null order by id desc limit 1")
    return json.loads(rows[0]["parameters"]) if rows else None
