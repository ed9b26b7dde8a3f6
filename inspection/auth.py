"""Local accounts, roles and what each role may do — enforced here, in the core, not only in the UI.

Secrets (PINs or passwords, at least 6 characters) are stored as salted scrypt hashes in the station
database (`users` table), at the cost OWASP recommends (N=2^17, r=8, p=1); a hash made at a lower cost is
replaced at the next successful login. Every permission check goes through `require(user, action)`, which
raises `AccessDenied` (a StationError); `inspection.audit.Operations` calls it before doing anything and logs
the attempt either way.

Online guessing is throttled per user name in the database (so the console and the CLI share the count):
after `FREE_FAILURES` failures each attempt must wait an exponential backoff, after `LOCKOUT_FAILURES` the
name is locked for `LOCKOUT_S` (an admin may unlock it). Every failure is audited. An unknown name costs the
same scrypt work as a known one (a dummy hash) and gets the same answer, so names cannot be probed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from inspection.errors import StationError
from inspection.store import Store

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
    "needs_rehash",
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
    "force_promote_model": "promote a model the promotion gate blocks (--force)",
    "remote_job_change": "change the recipe/job over OPC UA (SelectRecipe)",
}

_OPERATOR = frozenset({"view", "run", "acknowledge", "select_recipe", "override"})
_ENGINEER = _OPERATOR | {"export", "review", "controller", "configure", "promote_model", "rollback_model",
                         "remote_job_change"}
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OPERATOR: _OPERATOR,
    Role.ENGINEER: frozenset(_ENGINEER),
    Role.ADMIN: frozenset(_ENGINEER | {"manage_users", "force_promote_model"}),
}

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**17, 8, 1  # OWASP password storage cheat sheet (2024)
_SCRYPT_MAXMEM = 2**28  # 128 * r * N = 128 MiB at the default cost; hashlib's own limit is 32 MiB
MIN_SECRET_LEN = 6
FREE_FAILURES = 3  # failures before backoff starts
MAX_BACKOFF_S = 300.0
LOCKOUT_FAILURES = 10  # consecutive failures that lock the name
LOCKOUT_S = 900.0


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
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32,
                            maxmem=_SCRYPT_MAXMEM)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or int(n) > 2**20 or int(r) > 32 or int(p) > 16:  # a planted hash may not DoS us
            return False
        got = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2, maxmem=2**31 - 1)
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """True when `stored` was made at a lower cost than the current one."""
    try:
        scheme, n, r, p, _, _ = stored.split("$")
        return scheme != "scrypt" or (int(n), int(r), int(p)) < (_SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    except ValueError:
        return True


_DUMMY: dict[int, str] = {}


def _dummy_hash() -> str:
    """A hash at the current cost to check unknown names against (same work, same answer)."""
    if _SCRYPT_N not in _DUMMY:
        _DUMMY[_SCRYPT_N] = hash_secret(secrets.token_hex(16))
    return _DUMMY[_SCRYPT_N]


def _now_iso() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


class Accounts:
    """Local accounts in the station database."""

    def __init__(self, store: Store, min_secret_len: int = MIN_SECRET_LEN,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.min_secret_len = max(min_secret_len, MIN_SECRET_LEN)
        self.clock = clock
        store.db["login_attempts"].create({"username": str, "failures": int, "last_failure_s": float,
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
            self.store.db["login_attempts"].upsert({"username": username, "failures": failures,
                                                    "last_failure_s": now, "locked_until_s": locked_until},
                                                   pk="username")
            self._audit(None, "login_failed", {"username": username, "failures": failures,
                                               "locked": bool(locked_until)}, allowed=False)
            raise AuthError("unknown user or wrong PIN/password")
        if state is not None:
            self.store.db["login_attempts"].delete(username)
        if needs_rehash(row["secret"]):
            self.store.update("users", username, {"secret": hash_secret(secret)})
        user = User(row["username"], Role(row["role"]))
        self._audit(user, "login", {"username": username})
        return user

    def unlock(self, username: str, by: User) -> None:
        """Clear a locked-out name's failures (admins)."""
        require(by, "manage_users")
        if self._attempts(username) is not None:
            self.store.db["login_attempts"].delete(username)
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
        from inspection.audit import AuditLog  # audit builds on auth; imported here to avoid a cycle

        AuditLog(self.store).record(by, action, detail, allowed)

    def _row(self, username: str) -> dict | None:
        rows = self.store.query("select * from users where username = ?", [username])
        return rows[0] if rows else None
