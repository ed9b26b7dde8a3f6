"""`station`: the one command line of the inspection station.

Core commands live here; `station_ui` and `training` add theirs through the `inspection.cli` entry
point group, so the core never imports Qt or the training stack, yet users see one tool.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from inspection.config import load_station_config
from inspection.demo import PRODUCTS, demo_config_path
from inspection.errors import StationError
from inspection.pipeline import RunSummary, Station
from inspection.store import Store
from inspection.types import Inspection

__all__ = ["main", "station"]

VERDICT_COLOURS = {"PASS": "green", "FAIL": "red", "ERROR": "magenta", "REVIEW": "yellow"}


# Core commands that live beside the code they drive; imported only when used.
LAZY_COMMANDS: dict[str, str] = {
    "cameras": "inspection.camera.cli:cameras",
    "snap": "inspection.camera.cli:snap",
    "record": "inspection.camera.cli:record",
    "plc-sim": "inspection.outputs.cli:plc_sim",
    "bench": "inspection.runtime.cli:bench",
    "twin": "inspection.process.cli:twin",
    "controller": "inspection.process.cli:controller",
    "health": "inspection.health.cli:health",
    "aoi": "inspection.aoi.cli:aoi",
    "config-reference": "inspection.config_reference:reference_command",
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
        console = ctx.command.get_command(ctx, "console")  # type: ignore[attr-defined]
        if console is not None:
            ctx.invoke(console)
        else:
            ctx.invoke(demo, headless=True)


def _print_part(inspection: Inspection) -> None:
    frame, verdict = inspection.frame, inspection.verdict
    status = verdict.status.value
    detail = "; ".join(r.message for r in verdict.reasons)
    click.echo(
        f"{frame.key:>14}  " + click.style(f"{status:<6}", fg=VERDICT_COLOURS[status], bold=True)
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
    click.echo(f"  yield      {s['yield_pct']:.1f} %")
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
    click.echo(f"  log        {db_path}")


def run_station(config_path: Path | None, product: str | None, db: Path | None, max_parts: int | None,
                quiet: bool) -> RunSummary:
    config = load_station_config(config_path if config_path else demo_config_path(product or "solder"))
    with Station(config, db_path=db) as station:
        if not quiet:
            station.listeners.append(_print_part)
            click.echo(f"station {config.name}: recipe {station.recipe.name}, model "
                       f"{station.detector.model_id if station.detector else '?'}, "
                       f"{len(station.cameras)} camera(s); warming up…", err=True)
        station.warmup()
        previous = signal.signal(signal.SIGINT, lambda *_: station.stop())  # Ctrl-C: finish the part in hand
        try:
            summary = station.run(max_parts=max_parts)
        finally:
            signal.signal(signal.SIGINT, previous)
        print_summary(summary, station.db_path)
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
@_db_option
@_max_parts_option
@_quiet_option
@click.pass_context
def demo(ctx: click.Context, product: str, headless: bool, db: Path | None, max_parts: int | None,
         quiet: bool) -> None:
    """Run the bundled demo (sample parts, model and recipe shipped with the station)."""
    if not headless:
        console = ctx.parent.command.get_command(ctx.parent, "console") if ctx.parent else None  # type: ignore[attr-defined]
        if console is not None:
            ctx.invoke(console, product=product, db=db)
            return
    run_station(None, product, db, max_parts, quiet)


@station.command("export")
@click.option("--db", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The station's SQLite file (verdict log → CSV).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file (with --db); exported model file (with --model, default beside the model).")
@click.option("--verdict", type=click.Choice(["PASS", "FAIL", "ERROR", "REVIEW"]), help="Only this verdict.")
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YOLO .pt model to convert (model mode).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "openvino"]), default="onnx", show_default=True,
              help="Model mode: target format.")
@click.option("--imgsz", type=click.IntRange(32, 4096), help="Model mode: input size (default: as trained).")
@click.option("--int8", is_flag=True, help="Model mode: also make an INT8 model, kept only within --tolerance.")
@click.option("--calibration", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Model mode: recipe images to calibrate INT8 on (and to verify the export on).")
@click.option("--golden", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Model mode: golden set for the INT8 accuracy gate (default: the calibration images).")
@click.option("--tolerance", type=click.FloatRange(0.0, 1.0), default=0.02, show_default=True,
              help="Model mode: max F1 drop of INT8 vs FP32 on the golden set.")
@click.option("--dynamic-batch", is_flag=True,
              help="Model mode: variable batch, so the runtime can batch frames of several cameras/tiles.")
def export_csv(db: Path | None, out: Path | None, verdict: str | None, model: Path | None, fmt: str,
               imgsz: int | None, int8: bool, calibration: Path | None, golden: Path | None,
               tolerance: float, dynamic_batch: bool) -> None:
    """Export the verdict log to CSV (--db), or convert a model to ONNX/OpenVINO and verify it (--model)."""
    if db is None:
        if model is None:
            raise click.UsageError("give --db DB --out FILE.csv (verdict log) or --model MODEL.pt (model export)")
        from inspection.backends.export import export_model

        report = export_model(model, fmt, imgsz=imgsz, out=out, samples=calibration, int8=int8,
                              calibration=calibration, golden=golden, tolerance=tolerance, dynamic=dynamic_batch)
        for line in report.lines():
            click.echo(line)
        return
    if out is None:
        raise click.UsageError("--db needs --out FILE.csv")
    with Store(db) as store:
        rows = store.export_csv(out, "verdict = ?" if verdict else None, [verdict] if verdict else None)
    click.echo(f"wrote {rows} parts to {out}")


def main() -> None:
    station.main(prog_name="station")


if __name__ == "__main__":
    sys.exit(main())
