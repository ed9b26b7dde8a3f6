"""`station`: the one command line of the inspection station.

Core commands live here; `station_ui` and `training` add theirs through the `inspection.cli` entry
point group, so the core never imports Qt or the training stack, yet users see one tool.
"""

from __future__ import annotations

import importlib
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from inspection.adapters.extras import EXTRA_OF, missing_extra
from inspection.adapters.stopping import stop_on_signals
from inspection.config import StationConfig, load_station_config
from inspection.demo import PRODUCTS, demo_config_path
from inspection.domain.types import Inspection
from inspection.errors import StationError
from inspection.records.store import Store
from inspection.runtime.pipeline import Station
from inspection.runtime.stats import RunSummary
from inspection.security.inputs import one_line

__all__ = ["main", "station"]

VERDICT_COLOURS = {"PASS": "green", "FAIL": "red", "ERROR": "magenta", "REVIEW": "yellow"}


# Core commands that live beside the code they drive; imported only when used.
LAZY_COMMANDS: dict[str, str] = {
    "cameras": "inspection.camera.cli:cameras",
    "snap": "inspection.camera.cli:snap",
    "record": "inspection.camera.cli:record",
    "plc-sim": "inspection.simulation.plc_cli:plc_sim",
    "twin": "inspection.simulation.cli:twin",
    "controller": "inspection.simulation.cli:controller",
    "health": "inspection.simulation.health_cli:health",
    "aoi": "inspection.aoi.cli:aoi",
    "calibrate": "inspection.runtime.calibration_cli:calibrate",
    "config-reference": "inspection.config_reference:reference_command",
    "adapters": "inspection.adapters.cli:adapters_command",
    "doctor": "inspection.doctor.cli:doctor",
    "labels": "inspection.records.coco_cli:labels",
    "audit": "inspection.people.cli:audit",
    "users": "inspection.people.cli:users",
    "fleet": "inspection.central.cli:fleet",
}


class StationGroup(click.Group):
    """Loads lazy and plugin commands on demand and turns StationError into a clean message + exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx)) | set(LAZY_COMMANDS) | set(_plugin_entry_points())
        return sorted(n for n in names if self.get_command(ctx, n) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        try:
            if name in LAZY_COMMANDS:
                module_name, attr = LAZY_COMMANDS[name].split(":")
                return getattr(importlib.import_module(module_name), attr)
            if name in _plugin_entry_points():
                return _plugin_entry_points()[name].load()
        except (ImportError, AttributeError) as exc:
            logging.getLogger(__name__).debug("command %s unavailable: %s", name, exc)
        return None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StationError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(exc.exit_code)
        except ImportError as exc:  # a command of an extra that is not installed (lean install)
            if (exc.name or "").split(".")[0] not in EXTRA_OF:
                raise
            click.secho(f"error: {ctx.invoked_subcommand or 'this command'}: {missing_extra(exc)}", fg="red", err=True)
            ctx.exit(1)


def _console(ctx: click.Context) -> click.Command | None:
    """The console command when it and PyQt6 are installed (the [console] extra), else None."""
    import importlib.util

    if importlib.util.find_spec("PyQt6") is None:
        return None
    return ctx.command.get_command(ctx, "console")  # type: ignore[attr-defined]


def _plugin_entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group="inspection.cli")}


@click.group(cls=StationGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log debug details to stderr.")
@click.pass_context
def station(ctx: click.Context, verbose: bool) -> None:
    """Inspection station: cameras → defect model → recipe verdict → PLC → log.

    Run `station` alone to open the operator console on the bundled demo (or the headless demo when
    the console is not installed). Every command has --help.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if ctx.invoked_subcommand is None:
        console = _console(ctx)
        if console is not None:
            ctx.invoke(console)
        else:
            ctx.invoke(demo, headless=True)


def _print_part(inspection: Inspection) -> None:
    frame, verdict = inspection.frame, inspection.verdict
    status = verdict.status.value
    detail = one_line("; ".join(r.message for r in verdict.reasons))  # reasons quote file names and part ids
    click.echo(
        f"{one_line(frame.key):>14}  " + click.style(f"{status:<6}", fg=VERDICT_COLOURS[status], bold=True)
        + f" {inspection.timings.latency_ms:7.1f} ms  {detail}"
    )


def print_summary(summary: RunSummary, db_path: Path) -> None:
    s = summary.as_dict()
    click.echo("")
    click.secho("Summary", bold=True)
    click.echo(f"  parts      {s['parts']}")
    click.echo(f"  pass       {s['pass']}")
    click.echo(f"  fail       {s['fail']}")
    click.echo(f"  error      {s['error']}   (fail-safe verdicts: {s['failsafe']})")
    if s["review"]:
        click.echo(f"  review     {s['review']}")
    click.echo("  yield      " + ("—" if s["yield_pct"] is None else f"{s['yield_pct']:.1f} %"))
    click.echo(f"  fps        {s['fps']:.2f}")
    click.echo(f"  latency    p50 {s['latency_p50_ms']:.1f} ms   p95 {s['latency_p95_ms']:.1f} ms   "
               f"p99 {s['latency_p99_ms']:.1f} ms")
    for stage, p in s.get("stages_ms", {}).items():  # rolling per-stage percentiles from the runtime
        if stage != "latency":
            click.echo(f"  {stage:<10} p50 {p['p50']:.1f} ms   p95 {p['p95']:.1f} ms   p99 {p['p99']:.1f} ms")
    reasons = {k: v for k, v in s.get("counters", {}).items() if not k.startswith("verdict:")}
    if reasons:
        click.echo("  counters   " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    if s["store_errors"]:
        click.secho(f"  NOT LOGGED {s['store_errors']} parts (database errors, see above)", fg="red")
    undelivered = s.get("counters", {}).get("output_error", 0)
    if undelivered:  # logged, but the PLC never got them: it must have rejected those parts itself
        click.secho(f"  NOT DELIVERED TO THE PLC {undelivered} verdicts (output errors, see above; logged with "
                    "their verdicts: the PLC must treat those parts as reject)", fg="red")
    if s["fault"]:
        click.secho(f"  STOPPED SAFELY: {s['fault']}", fg="red", bold=True)
    click.echo(f"  log        {db_path}")


def run_station(config_path: Path | None, product: str | None, db: Path | None, max_parts: int | None,
                quiet: bool, config: StationConfig | None = None) -> RunSummary:
    if config is None:
        config = load_station_config(config_path if config_path else demo_config_path(product or "solder"))
    with Station(config, db_path=db) as station:
        if not quiet:
            station.listeners.append(_print_part)
            click.echo(f"station {config.name}: recipe {station.recipe.name}, model "
                       f"{station.detector.model_id if station.detector else '?'}, "
                       f"{len(station.cameras)} camera(s); warming up…", err=True)
        station.warmup()
        # Ctrl-C, and SIGTERM (what systemd, docker stop and a shutdown send): finish the part in hand, drain
        # the queues into the log, close the PLC link cleanly, print the summary.
        with stop_on_signals(station.stop):
            summary = station.run(max_parts=max_parts)
        print_summary(summary, station.db_path)
        if summary.fault is not None:  # a safe stop: the message and the error's exit code, never a silent 0
            raise summary.fault
        return summary


_db_option = click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
                          help="SQLite file to log to (default: the station's data directory).")
_max_parts_option = click.option("--max-parts", type=click.IntRange(min=1), help="Stop after N parts.")
_quiet_option = click.option("-q", "--quiet", is_flag=True, help="Only the summary, no line per part.")


@station.command()
@click.option("-c", "--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Station YAML.")
@click.option("--headless", is_flag=True, help="No console window (the only mode without station_ui).")
@_db_option
@_max_parts_option
@_quiet_option
def run(config_path: Path, headless: bool, db: Path | None, max_parts: int | None, quiet: bool) -> None:
    """Inspect parts from the configured cameras until the source ends or Ctrl-C."""
    run_station(config_path, None, db, max_parts, quiet)


@station.command()
@click.option("--product", type=click.Choice(PRODUCTS), default="solder", show_default=True,
              help="Which bundled demo product to inspect.")
@click.option("--headless", is_flag=True, help="No console window: print verdicts and a summary.")
@click.option("--once", is_flag=True,
              help="One pass over the bundled parts, then stop (the console otherwise loops until closed).")
@click.option("--loop", is_flag=True,
              help="Headless: loop like the console (PLC simulator and process twin in-process) until Ctrl-C "
                   "or --max-parts; without it the headless demo makes one pass.")
@_db_option
@_max_parts_option
@_quiet_option
@click.pass_context
def demo(ctx: click.Context, product: str, headless: bool, once: bool, loop: bool, db: Path | None,
         max_parts: int | None, quiet: bool) -> None:
    """Run the bundled demo (sample parts, model and recipe shipped with the station).

    The console loops the parts at line rate until closed, with a Modbus PLC simulator and the process
    twin in-process; --once makes one pass. Headless makes one pass unless --loop.
    """
    if once and loop:
        raise click.UsageError("--once and --loop exclude each other")
    if not headless:
        console = _console(ctx.parent) if ctx.parent else None
        if console is not None:
            ctx.invoke(console, product=product, db=db, once=once)
            return
    if not loop:
        run_station(None, product, db, max_parts, quiet)
        return
    from inspection.simulation.live_demo import live_demo

    with live_demo(product) as live:
        run_station(None, product, db, max_parts, quiet, config=live.config)


@station.command("export")
@click.option("--db", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The station's SQLite file.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV file to write.")
@click.option("--verdict", type=click.Choice(["PASS", "FAIL", "ERROR", "REVIEW"]), help="Only this verdict.")
def export_csv(db: Path, out: Path, verdict: str | None) -> None:
    """Export the verdict log to CSV. (Model export is `station export-model`, from the training package.)"""
    with Store(db) as store:
        rows = store.export_csv(out, "verdict = ?" if verdict else None, [verdict] if verdict else None)
    click.echo(f"wrote {rows} parts to {out}")


def main() -> None:
    station.main(prog_name="station")


if __name__ == "__main__":
    sys.exit(main())
