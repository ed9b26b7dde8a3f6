"""`station fleet status`: one line per station of the line; `station fleet health`: the line's recent
health warnings. Both from the central store."""

from __future__ import annotations

import json

import click

from inspection.central.fleet import fleet_health, fleet_status

__all__ = ["fleet"]


@click.group()
def fleet() -> None:
    """The line of stations in the central PostgreSQL store (see docs/fleet.md)."""


@fleet.command()
@click.option("--url", envvar="STATION_CENTRAL_URL", required=True,
              help="Central store, postgresql://… (or $STATION_CENTRAL_URL).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of stations, for scripts.")
@click.option("--hours", type=click.FloatRange(min=0.01), default=24.0, show_default=True,
              help="Window of parts and yield.")
@click.option("--password-env", help="Environment variable holding the database password.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.5, 120), default=5.0, show_default=True,
              help="Seconds to connect and read.")
def status(url: str, as_json: bool, hours: float, password_env: str | None, timeout_s: float) -> None:
    """Name, parts=N, yield, parts/min, active alarms, model in force, last-seen time and health per station."""
    stations = fleet_status(url, window_h=hours, timeout_s=timeout_s, password_env=password_env)
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in stations], indent=2))
        return
    if not stations:
        click.echo("no station has replicated to this central store yet")
        return
    for s in stations:
        click.secho(s.line(), fg={"alarm": "red", "warning": "yellow"}.get(s.severity or ""))


@fleet.command()
@click.option("--url", envvar="STATION_CENTRAL_URL", required=True,
              help="Central store, postgresql://… (or $STATION_CENTRAL_URL).")
@click.option("--station", help="Only this station (its `name:`).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of warnings, newest first, for scripts.")
@click.option("--hours", type=click.FloatRange(min=0.01), default=24.0, show_default=True,
              help="How far back to list.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many.")
@click.option("--password-env", help="Environment variable holding the database password.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.5, 120), default=5.0, show_default=True,
              help="Seconds to connect and read.")
def health(url: str, station: str | None, as_json: bool, hours: float, limit: int, password_env: str | None,
           timeout_s: float) -> None:
    """Recent health warnings and alarms across the line (newest first): time, station, severity, kind,
    message with likely cause and action."""
    warnings = fleet_health(url, station=station, window_h=hours, limit=limit, timeout_s=timeout_s,
                            password_env=password_env)
    if as_json:
        click.echo(json.dumps([w.as_dict() for w in warnings], indent=2))
        return
    if not warnings:
        click.echo(f"no health warnings{f' of {station}' if station else ''} in the last {hours:g} h")
        return
    for w in warnings:
        click.secho(w.line(), fg="red" if w.severity == "alarm" else "yellow")
