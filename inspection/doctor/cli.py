"""`station doctor`: the readiness diagnosis as a command (a thin mirror of inspection.doctor)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from inspection.doctor.checks import Level, format_report, run_doctor

__all__ = ["doctor"]

_COLOURS = {Level.OK: "green", Level.WARN: "yellow", Level.FAIL: "red"}


@click.command("doctor")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Station YAML: also check every configured camera, PLC, broker, database and registry.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data folder to check (default: the station's; with --config: the config's).")
@click.option("--skip", multiple=True, type=click.Choice(["python", "qt", "camera", "inference", "data", "clock"]),
              help="Leave out a group of checks (repeatable).")
def doctor(config_path: Path | None, data_dir: Path | None, skip: tuple[str, ...]) -> None:
    """Check this machine for the station: packages, Qt libraries, cameras, inference devices, data folder,
    database, clock and (with --config) every configured peer. Exit code 1 when a required check fails."""
    sections = [s for s in ("python", "qt", "camera", "inference", "data", "clock") if s not in skip]
    checks = run_doctor(config_path, data_dir, sections)
    colour = (lambda text, level: click.style(text, fg=_COLOURS[level])) if sys.stdout.isatty() else None
    click.echo(format_report(checks, colour) if colour else format_report(checks))
    if any(c.level is Level.FAIL for c in checks):
        sys.exit(1)
