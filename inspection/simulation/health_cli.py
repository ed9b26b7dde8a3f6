"""`station health`: run the health scenarios on the process twin, set and show the baseline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from inspection.errors import StoreError

__all__ = ["health"]


@click.group()
def health() -> None:
    """Health of the inspection itself: signals, baselines, drift, forecasts, warnings."""


@health.command()
@click.option("--scenario", type=click.Choice(["defocus", "dimming", "shift", "material", "stable"]),
              required=True, help="the slow degradation to apply to the twin's images")
@click.option("--parts", type=click.IntRange(1), default=5000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--onset", type=click.IntRange(1), default=500, show_default=True,
              help="part at which the degradation begins (the baseline is learned before it)")
@click.option("--rate", type=float, default=None, help="degradation per 1000 parts (default: the scenario's)")
@click.option("--model-every", type=click.IntRange(1), default=10, show_default=True,
              help="run the model on every k-th good part too (all defective parts always run, clean and degraded)")
@click.option("--process", type=click.Choice(["solder", "paint"]), default="solder", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def simulate(scenario: str, parts: int, seed: int, onset: int, rate: float | None, model_every: int, process: str,
             as_json: bool) -> None:
    """Run one scenario headless: first warning, first escape caused by the degradation, lead."""
    from inspection.simulation.health_scenarios import main_report, simulate_health

    try:
        run = simulate_health(scenario, parts, seed=seed, onset=onset, rate=rate, model_every=model_every,
                              process=process)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(main_report(run)) if as_json else run.report())


@health.command()
@click.option("--db", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="the station's verdict database (its health samples)")
@click.option("--parts", type=click.IntRange(30), default=500, show_default=True,
              help="learn from the last N health samples")
@click.option("--note", default="set from the CLI at a known-good time", show_default=True)
def baseline(db: Path, parts: int, note: str) -> None:
    """Set the health baseline now, from the most recent health samples in the database.

    Engineers only, as in the console: log in with STATION_TOKEN, or STATION_USER + STATION_PASSWORD, or at
    the prompt. A running station picks it up at its next start; the console's Health tab sets it live."""
    from inspection.errors import StationError
    from inspection.health.station import baseline_from_store
    from inspection.people.audit import Operations
    from inspection.people.session import cli_user
    from inspection.records.store import Store

    with Store(db) as store:
        try:
            user = cli_user(store)
            Operations(store).authorize(user, "configure", {"health_baseline": parts})
        except StationError as exc:
            raise click.ClickException(str(exc)) from None
        try:
            fitted = baseline_from_store(store, parts, user.username, note)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"health baseline set from {fitted.parts} samples: "
               + ", ".join(f"{k} {v.value:.4g}" for k, v in fitted.signals.items()))


@health.command()
@click.option("--db", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--last", type=click.IntRange(1), default=10, show_default=True, help="warnings to show")
def status(db: Path, last: int) -> None:
    """The baseline in force and the latest health warnings and alarms."""
    from inspection.health.store import HealthLog
    from inspection.records.store import Store

    with Store(db) as store:
        try:
            log = HealthLog(store)
            current = log.load_baseline()
            rows = log.warnings(last)
        except (StoreError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    if current is None:
        click.echo("no health baseline set (a station learns one from its first parts)")
    else:
        click.echo(f"baseline from {current.parts} parts ({current.note}), {len(current.signals)} signals")
    for row in rows:
        click.echo(f"{row['time']}  {row['level']:<7}  {row['message']}")
    if not rows:
        click.echo("no health warnings")
