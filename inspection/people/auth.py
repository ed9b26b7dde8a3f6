"""Local accounts, roles and what each role may do — enforced here, in the core, not only in the UI.

Secrets (PINs or passwords) are stored as salted scrypt hashes in the station database (`users` table).
Every permission check goes through `require(user, action)`, which raises `AccessDenied` (a StationError);
`inspection.people.audit.Operations` calls it before doing anything and logs the attempt either way.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from inspection.errors import StationError
from inspection.records.store import Store

__all__ = [
    "ACTIONS",
    "PERMISSIONS",
    "AccessDenied",
    "Accounts",
    "AuthError",
    "Role",
    "User",
    "allowed",
    "hash_secret",
    "require",
    "verify_secret",
]


class AuthError(StationError):
    """Unknown user, wrong PIN/password, or an invalid account request."""

    exit_code = 8


class AccessDenied(AuthError, PermissionError):
    """The user's role does not allow the action."""


class Role(StrEnum):
    OPERATOR = "operator"
    ENGINEER = "engineer"
    ADMIN = "admin"


ACTIONS: dict[str, str] = {
    "view": "see the live view, counters, history and charts",
    "run": "start, pause and stop inspection",
    "acknowledge": "acknowledge alarms",
    "select_recipe": "switch the product recipe",
    "override": "override a verdict (with a reason; queued for review)",
    "export": "export the verdict log to CSV",
    "review": "approve or reject overrides in the review queue",
    "controller": "approve, reject or revert process-controller proposals",
    "promote_model": "promote a candidate model to production (through the promotion gate)",
    "rollback_model": "roll back to the previous production model",
    "configure": "change station settings",
    "manage_users": "create and disable accounts",
}

_OPERATOR = frozenset({"view", "run", "acknowledge", "select_recipe", "override"})
_ENGINEER = _OPERATOR | {"export", "review", "controller", "configure", "promote_model", "rollback_model"}
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OPERATOR: _OPERATOR,
    Role.ENGINEER: frozenset(_ENGINEER),
    Role.ADMIN: frozenset(_ENGINEER | {"manage_users"}),
}

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role

    def __post_init__(self) -> None:
        if not isinstance(self.role, Role):
            object.__setattr__(self, "role", Role(self.role))


def allowed(user: User | None, action: str) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    return user is not None and action in PERMISSIONS[user.role]


def require(user: User | None, action: str) -> None:
    """Raise AccessDenied unless `user` may do `action`."""
    if not allowed(user, action):
        who = f"{user.username} ({user.role})" if user else "nobody (not logged in)"
        roles = ", ".join(r.value for r in Role if action in PERMISSIONS[r])
        raise AccessDenied(f"{who} may not {ACTIONS[action]}; log in as: {roles}")


def hash_secret(secret: str) -> str:
    """Salted scrypt hash, self-describing: `scrypt$n$r$p$salt_hex$hash_hex`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


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
        from inspection.people.audit import AuditLog  # audit builds on auth; imported here to avoid a cycle

        AuditLog(self.store).record(by, action, detail)

    def _row(self, username: str) -> dict | None:
        rows = self.store.query("select * from users where username = ?", [username])
        return rows[0] if rows else None
