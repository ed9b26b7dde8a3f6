"""`station audit …` and `station users …`: verify the audit chain; manage accounts from the command line."""

from __future__ import annotations

import os
from pathlib import Path

import click

from inspection.config import default_data_dir
from inspection.errors import StationError

__all__ = ["audit", "users"]

_db = click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
                   default=lambda: default_data_dir() / "station.db", show_default="<data dir>/station.db",
                   help="The station's SQLite file.")


class AuditChainBroken(StationError):
    """The audit log's hash chain does not verify: a row was changed, removed or inserted."""

    exit_code = 10


@click.group()
def audit() -> None:
    """The tamper-evident audit log: verify its hash chain, show its head."""


@audit.command("verify")
@_db
@click.option("--head", "expected", metavar="ID:HASH",
              help="A chain head exported earlier (telemetry `audit_head`): also proves no rows were cut off.")
def verify_command(db: Path, expected: str | None) -> None:
    """Recompute the chain; exit 10 naming the first broken row."""
    from inspection.security.audit_chain import ChainHead, verify_file

    if not db.is_file():
        raise click.UsageError(f"{db}: no such database")
    head = None
    if expected:
        try:
            ident, digest = expected.split(":", 1)
            head = ChainHead(int(ident), digest.strip().lower())
        except ValueError:
            raise click.UsageError(f"--head {expected!r}: expected ID:HASH, e.g. 42:9f86d0…") from None
    report = verify_file(db, head)
    if not report.ok:
        raise AuditChainBroken(f"audit log {db}: broken at row {report.broken_id}: {report.reason} "
                               f"({report.rows} rows read)")
    where = f"head {report.head.id}:{report.head.row_hash}" if report.head else "empty"
    click.echo(f"audit log {db}: {report.rows} rows, chain intact, {where}")


@click.group()
def users() -> None:
    """Station accounts: add (the first admin without a login), list, unlock, session tokens."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["operator", "engineer", "admin"]), required=True)
@_db
def add_user(name: str, role: str, db: Path) -> None:
    """Add an account. Its PIN/password comes from STATION_PASSWORD or a prompt. The first account needs
    no login; later ones need an admin's (STATION_TOKEN, or prompted)."""
    from inspection.people.accounts import Accounts
    from inspection.people.audit import Operations
    from inspection.people.session import cli_user
    from inspection.records.store import Store

    with Store(db) as store:
        accounts = Accounts(store)
        by = None
        if accounts.count() > 0:
            by = cli_user(store, _prompt_acting)
            Operations(store).authorize(by, "manage_users", {"add": name, "role": role})  # before any prompt
        secret = os.environ.get("STATION_PASSWORD") if by is None or os.environ.get("STATION_TOKEN") else None
        if not secret:
            secret = click.prompt(f"new PIN/password for {name}", hide_input=True, confirmation_prompt=True,
                                  err=True)
        user = accounts.create(name, role, secret, by=by)
    click.echo(f"added {user.username} ({user.role}){f' by {by.username}' if by else ' (first account)'}")


def _prompt_acting(text: str, hide: bool) -> str:
    return str(click.prompt(f"admin {text}", hide_input=hide, err=True))


@users.command("list")
@_db
def list_users(db: Path) -> None:
    """Active accounts and their roles."""
    from inspection.people.accounts import Accounts
    from inspection.records.store import Store

    with Store(db) as store:
        for user in Accounts(store).users():
            click.echo(f"{user.username:<24} {user.role}")


@users.command("unlock")
@click.argument("name")
@_db
def unlock_user(name: str, db: Path) -> None:
    """Clear a locked-out account's failed logins (admins)."""
    from inspection.people.accounts import Accounts
    from inspection.people.session import cli_user
    from inspection.records.store import Store

    with Store(db) as store:
        Accounts(store).unlock(name, by=cli_user(store))
    click.echo(f"{name} unlocked")


@users.command("token")
@click.option("--hours", type=float, default=8.0, show_default=True)
@_db
def token(hours: float, db: Path) -> None:
    """Log in and print a session token; export it as STATION_TOKEN for scripted commands."""
    from inspection.people.session import cli_user, issue_token
    from inspection.records.store import Store

    with Store(db) as store:
        click.echo(issue_token(store, cli_user(store), hours))
