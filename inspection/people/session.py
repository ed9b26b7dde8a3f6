"""Who is at the command line: a logged-in station account, never a free-text name.

The CLI asks, in order: `STATION_TOKEN` (a session token from `station users token`), then
`STATION_USER` + `STATION_PASSWORD`, then a prompt. The same `Accounts.authenticate` as the console checks
the secret, so throttling, lockout and the audit of failures apply here too.

Tokens are random 32-byte values; only their SHA-256 is stored (`api_tokens` table) with the user and an
expiry, so a copy of the database does not hand out sessions.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable

from inspection.domain.permissions import AuthError, Role, User
from inspection.people.accounts import Accounts
from inspection.records.store import Store

__all__ = ["cli_user", "issue_token", "user_from_token"]

_TOKEN_PREFIX = "stn_"


def _ensure_table(store: Store) -> None:
    with store.transaction("the API-token table") as db:
        db["api_tokens"].create({"token_sha256": str, "username": str, "created_s": float, "expires_s": float},
                                pk="token_sha256", if_not_exists=True)


def issue_token(store: Store, user: User, hours: float = 8.0) -> str:
    """A session token for `user`, valid `hours` (audited)."""
    from inspection.people.audit import AuditLog

    if not 0 < hours <= 24 * 7:
        raise AuthError(f"token lifetime {hours} h: expected more than 0 and at most a week (168 h)")
    _ensure_table(store)
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    store.insert("api_tokens", {"token_sha256": hashlib.sha256(token.encode()).hexdigest(),
                                "username": user.username, "created_s": now, "expires_s": now + hours * 3600})
    AuditLog(store).record(user, "issue_token", {"hours": hours})
    return token


def user_from_token(store: Store, token: str) -> User:
    _ensure_table(store)
    rows = store.query(
        "select u.username, u.role, u.active, t.expires_s from api_tokens t join users u using (username) "
        "where t.token_sha256 = ?", [hashlib.sha256(token.strip().encode()).hexdigest()])
    if not rows or not rows[0]["active"] or rows[0]["expires_s"] < time.time():
        from inspection.people.audit import AuditLog

        AuditLog(store).record(None, "login_failed", {"reason": "unknown or expired token"}, allowed=False)
        raise AuthError("STATION_TOKEN is unknown or expired; get a new one with `station users token`")
    return User(rows[0]["username"], Role(rows[0]["role"]))


def cli_user(store: Store, prompt: Callable[[str, bool], str] | None = None) -> User:
    """The authenticated user running this command (token, environment, or prompt)."""
    token = os.environ.get("STATION_TOKEN")
    if token:
        return user_from_token(store, token)
    accounts = Accounts(store)
    if accounts.count() == 0:
        raise AuthError("no accounts in this station database: create the first admin with "
                        "`station users add NAME --role admin`")
    username = os.environ.get("STATION_USER")
    secret = os.environ.get("STATION_PASSWORD")
    if prompt is None:
        import click

        def prompt(text: str, hide: bool) -> str:
            return str(click.prompt(text, hide_input=hide, err=True))
    if not username:
        username = prompt("user", False)
    if not secret:
        secret = prompt(f"PIN/password for {username}", True)
    return accounts.authenticate(username, secret)
