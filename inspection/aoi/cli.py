"""`station aoi …`: check a placement file against a package library, inspect board images per RefDes.

    station aoi check --placements board.csv --library packages.yaml
    station aoi inspect --config aoi_station.yaml IMAGE...
"""

from __future__ import annotations

from pathlib import Path

import click
import cv2

from inspection.errors import ConfigError, DataError

__all__ = ["aoi"]


@click.group()
def aoi() -> None:
    """AOI board inspection: placement list, package library, golden board."""


@aoi.command("check")
@click.option("--placements", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--library", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--units", type=click.Choice(["mm", "mil", "inch"]), default=None,
              help="placement units where the file names none")
def check(placements: Path, library: Path, units: str | None) -> None:
    """Load both files, resolve every package; print what each component will be checked for."""
    from inspection.aoi.library import load_library
    from inspection.aoi.placement import load_placements

    board = load_placements(placements, units)  # type: ignore[arg-type]
    lib = load_library(library)
    packages = lib.resolve(board)
    fiducials = [p.refdes for p, _ in lib.fiducials(board, "top")]
    click.echo(f"{placements}: {len(board)} rows ({board.units}); fiducials on top: {', '.join(fiducials) or 'none'}")
    for placement in board:
        package = packages[placement.refdes]
        if package.fiducial is not None:
            continue
        click.echo(f"  {placement.refdes:<8} {placement.package:<14} {placement.side:<6} "
                   f"({placement.x_mm:8.3f}, {placement.y_mm:8.3f}) mm {placement.rotation_deg:6.1f}°  "
                   f"{len(package.pads)} pads  checks: {', '.join(package.checks)}")


@aoi.command("inspect")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="station YAML whose detector is kind: aoi")
@click.argument("images", nargs=-1, type=click.Path(path_type=Path, dir_okay=False), required=True)
def inspect_images(config_path: Path, images: tuple[Path, ...]) -> None:
    """Inspect board images, judge them with the config's recipe and list findings per RefDes.

    Findings the recipe does not count (below its thresholds) are listed with `(not counted)`.
    Exit status 1 when any board is rejected."""
    from inspection.aoi.inspector import BoardInspector
    from inspection.config import load_station_config
    from inspection.domain.judge import Judge
    from inspection.domain.recipe import load_recipe

    config = load_station_config(config_path)
    if config.detector.kind != "aoi":
        raise ConfigError(f"{config_path}: detector.kind is {config.detector.kind!r}; expected aoi")
    inspector = BoardInspector(config.detector)  # type: ignore[arg-type]
    judge = Judge(load_recipe(config.recipe))
    rejected = 0
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"{path}: missing or not an image")
        try:
            result = inspector.inspect(image)
        except DataError as exc:
            click.echo(f"{path}: {judge.failsafe('inspection_error', str(exc)).summary}")
            rejected += 1
            continue
        judgement = judge.judge(result.detections)
        counted = {id(d) for d in judgement.defects}
        rejected += int(judgement.verdict.status.rejects)
        click.echo(f"{path}: {judgement.verdict.status} — {result.alignment.summary()}")
        for refdes, found in sorted(result.by_refdes().items()):
            for d in found:
                pin = f" pin {d.attributes['pin']}" if "pin" in d.attributes else ""
                detail = f" ({d.attributes['detail']})" if "detail" in d.attributes else ""
                note = "" if id(d) in counted else "  (not counted)"
                click.echo(f"  {refdes}{pin}: {d.class_name} {d.confidence:.2f} [{d.attributes.get('check')}]"
                           f"{detail}{note}")
    if rejected:
        raise SystemExit(1)
