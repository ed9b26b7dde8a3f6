"""The audit log, verdict overrides and their review queue: what people did at the station.

`Operations` is the small command API the console calls: each method checks the user's permission in
the core (`inspection.domain.permissions.require`), does the thing, and writes one audit row — denied attempts too.
The original verdict of a part is never rewritten: an override is a separate row, `pending` until an
engineer approves or rejects it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from inspection.domain.permissions import AccessDenied, User, require
from inspection.domain.types import VerdictStatus
from inspection.errors import StationError, StoreError
from inspection.records.samples import queue_override_sample
from inspection.records.store import Store

__all__ = ["AuditLog", "Operations", "OverrideError", "OverrideRequest"]

ReviewDecision = Literal["approved", "rejected"]
MIN_REASON_CHARS = 5


class OverrideError(StationError):
    """An override or review request is invalid (no reason, unknown part, same verdict…)."""

    exit_code = 9


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


class AuditLog:
    """Append-only log of who did what, when (the `audit` table)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, user: User | None, action: str, detail: dict[str, Any] | str = "", allowed: bool = True) -> None:
        now = time.time()
        text = detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
        self.store.insert("audit", {
            "time": _iso(now), "timestamp_s": now, "username": user.username if user else "",
            "role": user.role.value if user else "", "action": action, "detail": text, "allowed": int(allowed)})

    def entries(self, limit: int = 200) -> list[dict[str, Any]]:
        return self.store.query("select * from audit order by id desc limit ?", [limit])


@dataclass(frozen=True, slots=True)
class OverrideRequest:
    inspection_id: int
    new_verdict: VerdictStatus
    reason: str


class Operations:
    """Everything a person may do to the station, permission-checked and audited."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.audit = AuditLog(store)

    def authorize(self, user: User | None, action: str, detail: dict[str, Any] | str = "") -> None:
        """Check `action` for `user` and log the attempt. Raises AccessDenied when not allowed.

        For actions whose effect lives outside the store (start/stop the line, switch recipe)."""
        try:
            require(user, action)
        except AccessDenied:
            self._log(user, action, detail, allowed=False)
            raise
        self._log(user, action, detail, allowed=True)

    def override(self, user: User | None, request: OverrideRequest) -> int:
        """Record an override of one part's verdict; it waits in the review queue. Returns its id."""
        self.authorize(user, "override", {"inspection_id": request.inspection_id,
                                          "new_verdict": str(request.new_verdict), "reason": request.reason})
        assert user is not None
        reason = request.reason.strip()
        if len(reason) < MIN_REASON_CHARS:
            raise OverrideError(f"override of part #{request.inspection_id}: give a reason "
                                f"(at least {MIN_REASON_CHARS} characters) for the reviewer")
        rows = self.store.query("select verdict from inspections where id = ?", [request.inspection_id])
        if not rows:
            raise OverrideError(f"override: no part #{request.inspection_id} in the verdict log")
        new = VerdictStatus(request.new_verdict)
        if rows[0]["verdict"] == new.value:
            raise OverrideError(f"override of part #{request.inspection_id}: it already is {new}")
        override_id = self.store.insert("overrides", {
            "inspection_id": request.inspection_id, "time": _iso(time.time()), "username": user.username,
            "old_verdict": rows[0]["verdict"], "new_verdict": new.value, "reason": reason, "status": "pending"})
        queue_override_sample(self.store, request.inspection_id)  # a person disagreed: top of the retraining queue
        return override_id

    def review(self, user: User | None, override_id: int, decision: ReviewDecision, note: str = "") -> None:
        """Approve or reject a pending override (engineers). The reviewer may not review their own."""
        self.authorize(user, "review", {"override_id": override_id, "decision": decision, "note": note})
        assert user is not None
        if decision not in ("approved", "rejected"):
            raise OverrideError(f"review decision {decision!r}: expected 'approved' or 'rejected'")
        rows = self.store.query("select * from overrides where id = ?", [override_id])
        if not rows:
            raise OverrideError(f"review: no override #{override_id}")
        if rows[0]["status"] != "pending":
            raise OverrideError(f"override #{override_id} was already {rows[0]['status']}")
        if rows[0]["username"] == user.username:
            raise AccessDenied(f"{user.username} may not review their own override #{override_id}")
        self.store.update("overrides", override_id, {"status": decision, "reviewed_by": user.username,
                                                     "reviewed_time": _iso(time.time()), "review_note": note})

    def review_queue(self) -> list[dict[str, Any]]:
        return self.store.query("select * from overrides where status = 'pending' order by id")

    def overrides_for(self, inspection_id: int) -> list[dict[str, Any]]:
        return self.store.query("select * from overrides where inspection_id = ? order by id", [inspection_id])

    def _log(self, user: User | None, action: str, detail: dict[str, Any] | str, allowed: bool) -> None:
        try:
            self.audit.record(user, action, detail, allowed)
        except StoreError:
            if action not in ("view", "acknowledge", "run"):
                raise  # an override nobody can audit must not happen
