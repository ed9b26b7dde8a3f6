"""`station calibrate`: calibrate a camera from images of a chessboard or ChArUco target (a thin mirror of
`inspection.domain.calibration`). The result is a new versioned file beside the station's other camera data and
one row in the audit log."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

import click
import cv2

from inspection.domain.calibration import Calibration, CalibrationError, TargetSpec, save_calibration
from inspection.domain.calibration import calibrate as compute_calibration
from inspection.domain.images import IMAGE_SUFFIXES, image_files

__all__ = ["calibrate", "calibrate_command"]


def _folder_images(folder: Path) -> tuple[list, list[str]]:
    files = image_files(folder)
    if not files:
        raise CalibrationError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise CalibrationError(f"{path}: not a readable image")
        images.append(image)
    return images, [p.name for p in files]


def _camera_images(config_path: Path | None, camera_id: str | None, frames: int, interval_s: float,
                   timeout_s: float) -> tuple[list, list[str], str]:
    from inspection.adapters.registry import create_adapter
    from inspection.camera.cli import _first_frame, camera_options
    from inspection.domain.types import Frame

    options = camera_options(config_path, camera_id, any_kind=True)
    images, names = [], []
    with create_adapter("camera", options) as camera:
        for i in range(frames):
            frame = _first_frame(camera, timeout_s)
            if not isinstance(frame, Frame):
                raise CalibrationError(f"camera {getattr(options, 'id', '?')!r}: no frame within {timeout_s:g} s")
            images.append(frame.image)
            names.append(f"frame {i}")
            if i + 1 < frames:
                click.echo(f"frame {i + 1}/{frames}: move the target, next in {interval_s:g} s")
                time.sleep(interval_s)
    return images, names, str(getattr(options, "id", camera_id or "cam0"))


@click.command("calibrate")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Station YAML: where calibrations are kept, the audit log, and the camera (default: bundled "
                   "defaults).")
@click.option("--camera", "camera_id", help="Camera id the calibration is for (default: the station's first).")
@click.option("--images", "images_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of target images; without it, frames are grabbed from the configured camera.")
@click.option("--frames", type=click.IntRange(min=3), default=10, show_default=True,
              help="From the camera: how many views to grab (move/tilt the target between them).")
@click.option("--interval-s", type=click.FloatRange(min=0.0), default=2.0, show_default=True,
              help="From the camera: pause between views.")
@click.option("--timeout-s", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="From the camera: give up when no frame comes within this time.")
@click.option("--target", "kind", type=click.Choice(["chessboard", "charuco"]), default="chessboard",
              show_default=True)
@click.option("--cols", type=click.IntRange(min=3), required=True, help="Squares along the target's x axis.")
@click.option("--rows", type=click.IntRange(min=3), required=True, help="Squares along the target's y axis.")
@click.option("--square-mm", type=click.FloatRange(min=0.0, min_open=True), required=True,
              help="Side of one square in mm, as printed (measure it).")
@click.option("--marker-mm", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="ChArUco: side of one marker in mm.")
@click.option("--dictionary", default="DICT_5X5_100", show_default=True, help="ChArUco: cv2.aruco dictionary.")
@click.option("--plane-image", default=None,
              help="Name of the image taken with the target lying on the part plane (default: the first).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Calibration folder (default: the station's calibration_dir).")
def calibrate_command(config_path: Path | None, camera_id: str | None, images_dir: Path | None, frames: int,
                      interval_s: float, timeout_s: float, kind: str, cols: int, rows: int, square_mm: float,
                      marker_mm: float | None, dictionary: str, plane_image: str | None,
                      out_dir: Path | None) -> None:
    """Calibrate a camera: intrinsics, distortion, mm per pixel on the part plane, reprojection error.

    Lay the target flat on the part plane for the first image (or name it with --plane-image), then tilt it
    differently for the others. Each run writes a new dated file; earlier calibrations are kept."""
    from inspection.config import load_station_config
    from inspection.people.audit import AuditLog
    from inspection.records.store import Store

    config = load_station_config(config_path)
    try:
        spec = TargetSpec(kind, cols, rows, square_mm, marker_mm, dictionary)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if images_dir is not None:
        images, names = _folder_images(images_dir)
        camera = camera_id or str(getattr(config.cameras[0], "id", "cam0"))
        source = str(images_dir)
    else:
        images, names, camera = _camera_images(config_path, camera_id, frames, interval_s, timeout_s)
        source = f"camera {camera}"
    plane = 0
    if plane_image is not None:
        if plane_image not in names:
            raise CalibrationError(f"--plane-image {plane_image!r} is not among the images ({', '.join(names)})")
        plane = names.index(plane_image)
    result = compute_calibration(images, spec, camera, source, plane_view=plane, names=names)
    path = save_calibration(result, out_dir or config.calibrations_dir)
    with Store(config.db_path) as store:
        AuditLog(store).record(None, "calibrate", {
            "camera_id": camera, "file": str(path), "mm_per_px": result.mm_per_px,
            "reprojection_error_px": result.reprojection_error_px, "views": result.views, "source": source,
            "os_user": getpass.getuser()})
    _print(result, path)


def _print(result: Calibration, path: Path) -> None:
    click.echo(f"camera        {result.camera_id}")
    click.echo(f"views         {result.views} (target found)")
    click.echo(f"reprojection  {result.reprojection_error_px:.3f} px RMS")
    click.echo(f"scale         {result.mm_per_px:.5f} mm/px on the part plane ({1 / result.mm_per_px:.2f} px/mm)")
    k = result.camera_matrix
    click.echo(f"intrinsics    fx {k[0, 0]:.1f}  fy {k[1, 1]:.1f}  cx {k[0, 2]:.1f}  cy {k[1, 2]:.1f}")
    click.echo("distortion    " + " ".join(f"{v:+.4f}" for v in result.dist_coeffs))
    click.echo(f"saved         {path}")


calibrate = calibrate_command
