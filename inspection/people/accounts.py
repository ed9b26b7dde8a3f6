"""Local accounts in the station database (`users` table); every change is audited.

Roles and permissions are a domain rule (`inspection.domain.permissions`); the audit log is
`inspection.people.audit`; this module only imports them, so nothing imports it back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from inspection.domain.permissions import (
    FREE_FAILURES,
    LOCKOUT_FAILURES,
    LOCKOUT_S,
    MAX_BACKOFF_S,
    MIN_SECRET_LEN,
    AuthError,
    Role,
    User,
    _dummy_hash,
    hash_secret,
    needs_rehash,
    require,
    verify_secret,
)
from inspection.people.audit import AuditLog
from inspection.records.store import Store

__all__ = ["Accounts"]

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def _now_iso() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


class Accounts:
    """Local accounts in the station database."""

    def __init__(self, store: Store, min_secret_len: int = MIN_SECRET_LEN,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.min_secret_len = max(min_secret_len, MIN_SECRET_LEN)
        self.clock = clock
        with store.transaction("the login-attempts table") as db:
            db["login_attempts"].create({"username": str, "failures": int, "last_failure_s": float,
                                         "locked_until_s": float}, pk="username", if_not_exists=True)

    def create(self, username: str, role: Role | str, secret: str, by: User | None = None) -> User:
        """Add an account. Only an admin may, except for the very first account (bootstrap)."""
        if self.count() > 0:
            require(by, "manage_users")
        if not _USERNAME.match(username) or username.startswith((".", "-")):
            raise AuthError(f"user name {username!r}: use 1-32 letters, digits, '.', '_' or '-'")
        try:
            role = Role(role)
        except ValueError:
            raise AuthError(f"role {role!r}: expected one of {', '.join(r.value for r in Role)}") from None
        if len(secret) < self.min_secret_len:
            raise AuthError(f"PIN/password for {username}: at least {self.min_secret_len} characters")
        if self._row(username) is not None:
            raise AuthError(f"user {username!r} already exists")
        self.store.insert("users", {"username": username, "role": role.value, "secret": hash_secret(secret),
                                    "created": _now_iso(), "active": 1})
        self._audit(by, "create_user", {"username": username, "role": role.value})
        return User(username, role)

    def disable(self, username: str, by: User) -> None:
        require(by, "manage_users")
        if self._row(username) is None:
            raise AuthError(f"no user {username!r}")
        self.store.update("users", username, {"active": 0})
        self._audit(by, "disable_user", {"username": username})

    def authenticate(self, username: str, secret: str) -> User:
        """The user when the secret matches an active account; AuthError otherwise (same message and the
        same scrypt work for an unknown user and a wrong secret, so names cannot be probed).

        Refused without checking the secret while the name is backing off or locked; every failure is audited."""
        username = str(username)[:64]
        now = self.clock()
        state = self._attempts(username)
        wait = self._wait_s(state, now)
        if wait > 0:
            self._audit(None, "login_failed", {"username": username, "reason": "throttled",
                                               "wait_s": round(wait, 1)}, allowed=False)
            locked = state is not None and state["locked_until_s"] > now
            raise AuthError(f"too many failed logins for {username!r}: "
                            f"{'locked' if locked else 'wait'}, try again in {wait:.0f} s"
                            + (" or ask an admin to unlock it" if locked else ""))
        row = self._row(username)
        ok = verify_secret(secret, row["secret"] if row is not None else _dummy_hash())
        if row is None or not row["active"] or not ok:
            failures = (state["failures"] if state else 0) + 1
            locked_until = now + LOCKOUT_S if failures >= LOCKOUT_FAILURES else 0.0
            with self.store.transaction("a failed login") as db:
                db["login_attempts"].upsert({"username": username, "failures": failures,
                                             "last_failure_s": now, "locked_until_s": locked_until},
                                            pk="username")
            self._audit(None, "login_failed", {"username": username, "failures": failures,
                                               "locked": bool(locked_until)}, allowed=False)
            raise AuthError("unknown user or wrong PIN/password")
        if state is not None:
            with self.store.transaction("a login") as db:
                db["login_attempts"].delete(username)
        if needs_rehash(row["secret"]):
            self.store.update("users", username, {"secret": hash_secret(secret)})
        user = User(row["username"], Role(row["role"]))
        self._audit(user, "login", {"username": username})
        return user

    def unlock(self, username: str, by: User) -> None:
        """Clear a locked-out name's failures (admins)."""
        require(by, "manage_users")
        if self._attempts(username) is not None:
            with self.store.transaction("an unlock") as db:
                db["login_attempts"].delete(username)
        self._audit(by, "unlock_user", {"username": username})

    def _attempts(self, username: str) -> dict | None:
        rows = self.store.query("select * from login_attempts where username = ?", [username])
        return rows[0] if rows else None

    @staticmethod
    def _wait_s(state: dict | None, now: float) -> float:
        """Seconds before `state`'s name may try again: the lockout, else the backoff after FREE_FAILURES."""
        if state is None:
            return 0.0
        if state["locked_until_s"] > now:
            return state["locked_until_s"] - now
        if state["failures"] >= LOCKOUT_FAILURES:  # the lockout ran out: start over with the backoff
            return 0.0
        extra = state["failures"] - FREE_FAILURES
        if extra < 0:
            return 0.0
        backoff = min(MAX_BACKOFF_S, 2.0 ** extra)
        return max(0.0, state["last_failure_s"] + backoff - now)

    def users(self) -> list[User]:
        rows = self.store.query("select username, role from users where active = 1 order by username")
        return [User(r["username"], Role(r["role"])) for r in rows]

    def count(self) -> int:
        return int(self.store.query("select count(*) as n from users")[0]["n"])

    def _audit(self, by: User | None, action: str, detail: dict[str, Any], allowed: bool = True) -> None:
        AuditLog(self.store).record(by, action, detail, allowed)

    def _row(self, username: str) -> dict | None:
        rows = self.store.query("select * from users where username = ?", [username])
        return rows[0] if rows else None
