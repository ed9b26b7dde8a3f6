"""Local accounts in the station database (`users` table); every change is audited.

Roles and permissions are a domain rule (`inspection.domain.permissions`); the audit log is
`inspection.people.audit`; this module only imports them, so nothing imports it back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from inspection.domain.permissions import AuthError, Role, User, hash_secret, require, verify_secret
from inspection.people.audit import AuditLog
from inspection.records.store import Store

__all__ = ["Accounts"]

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def _now_iso() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


class Accounts:
    """Local accounts in the station database."""

    def __init__(self, store: Store, min_secret_len: int = 4) -> None:
        self.store = store
        self.min_secret_len = min_secret_len

    def create(self, username: str, role: Role | str, secret: str, by: User | None = None) -> User:
        """Add an account. Only an admin may, except for the very first account (bootstrap)."""
        if self.count() > 0:
            require(by, "manage_users")
        if not _USERNAME.match(username):
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
        """The user when the secret matches an active account; AuthError otherwise (same message for
        unknown user and wrong secret, so names cannot be probed)."""
        row = self._row(username)
        if row is None or not row["active"] or not verify_secret(secret, row["secret"]):
            raise AuthError("unknown user or wrong PIN/password")
        return User(row["username"], Role(row["role"]))

    def users(self) -> list[User]:
        rows = self.store.query("select username, role from users where active = 1 order by username")
        return [User(r["username"], Role(r["role"])) for r in rows]

    def count(self) -> int:
        return int(self.store.query("select count(*) as n from users")[0]["n"])

    def _audit(self, by: User | None, action: str, detail: dict[str, str]) -> None:
        AuditLog(self.store).record(by, action, detail)

    def _row(self, username: str) -> dict | None:
        rows = self.store.query("select * from users where username = ?", [username])
        return rows[0] if rows else None
