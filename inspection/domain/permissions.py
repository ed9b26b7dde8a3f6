"""Roles and what each role may do — enforced here, in the core, not only in the UI.

Secrets (PINs or passwords, at least 6 characters) are stored as salted scrypt hashes in the station
database (`users` table, `inspection.people.accounts.Accounts`), at the cost OWASP recommends (N=2^17,
r=8, p=1); a hash made at a lower cost is replaced at the next successful login. Every permission check
goes through `require(user, action)`, which raises `AccessDenied` (a StationError);
`inspection.people.audit.Operations` calls it before doing anything and logs the attempt either way.

Online guessing is throttled per user name in the database (so the console and the CLI share the count):
after `FREE_FAILURES` failures each attempt must wait an exponential backoff, after `LOCKOUT_FAILURES` the
name is locked for `LOCKOUT_S` (an admin may unlock it). Every failure is audited. An unknown name costs the
same scrypt work as a known one (a dummy hash) and gets the same answer, so names cannot be probed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from inspection.errors import StationError

__all__ = [
    "ACTIONS",
    "PERMISSIONS",
    "AccessDenied",
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
    "reload_model": "reload the station's model between runs (with model_hub: the line's production model)",
    "configure": "change station settings",
    "manage_users": "create and disable accounts",
    "force_promote_model": "promote a model the promotion gate blocks (--force)",
    "remote_job_change": "change the recipe/job over OPC UA (SelectRecipe)",
}

_OPERATOR = frozenset({"view", "run", "acknowledge", "select_recipe", "override"})
_ENGINEER = _OPERATOR | {"export", "review", "controller", "configure", "promote_model", "rollback_model",
                         "reload_model", "remote_job_change"}
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OPERATOR: _OPERATOR,
    Role.ENGINEER: frozenset(_ENGINEER),
    Role.ADMIN: frozenset(_ENGINEER | {"manage_users", "force_promote_model"}),
}

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
