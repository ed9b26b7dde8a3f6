"""Roles and what each role may do — enforced here, in the core, not only in the UI.

Secrets (PINs or passwords) are salted scrypt hashes (`hash_secret`); the accounts that hold them are
`inspection.people.accounts.Accounts`.
Every permission check goes through `require(user, action)`, which raises `AccessDenied` (a StationError);
`inspection.people.audit.Operations` calls it before doing anything and logs the attempt either way.
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
