"""`station cameras`, `station snap`, `station record`: the camera commands (a thin mirror of the API).

`--config` takes a camera YAML (camera_configs/*.yaml) or a station YAML (`--camera ID` picks one of
its cameras). Without `--config`, the producers on GENICAM_GENTL64_PATH and their first device are used.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import click
import cv2

from inspection.adapters.stopping import stop_on_signals
from inspection.config import AdapterOptions, read_yaml
from inspection.errors import CameraError, ConfigError, OutputError

__all__ = ["cameras", "record", "snap"]

_config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Camera YAML (camera_configs/…) or station YAML; default: producers on GENICAM_GENTL64_PATH.")
_camera_option = click.option("--camera", "camera_id", help="With a station YAML: the id of the camera to use.")


def camera_options(config_path: Path | None, camera_id: str | None = None, any_kind: bool = False) -> AdapterOptions:
    """The options of the camera a command works on (a genicam camera unless `any_kind`)."""
    from inspection.camera.genicam import Options, load_camera_options

    if config_path is None:
        return Options()
    if any_kind and "cameras" in read_yaml(config_path):
        from inspection.config import load_station_config

        found = [c for c in load_station_config(config_path).cameras
                 if camera_id is None or getattr(c, "id", None) == camera_id]
        if not found:
            raise ConfigError(f"{config_path}: cameras: no camera with id {camera_id!r}")
        return found[0]
    return load_camera_options(config_path, camera_id)


@click.command("cameras")
@_config_option
def cameras(config_path: Path | None) -> None:
    """List the devices the GenTL producers see: vendor, model, serial, interface (tab-separated),
    one device a line."""
    from inspection.camera.genicam import list_devices, resolve_producers

    options = camera_options(config_path) if config_path else None
    producers = resolve_producers(options)  # type: ignore[arg-type]
    devices = list_devices(producers)
    if not devices:
        raise CameraError(f"no device found by {', '.join(str(p) for p in producers)}; check cabling, power and "
                          f"(GigE) that the camera and this PC are on the same subnet")
    for device in devices:
        click.echo(device.line())


@click.command("snap")
@_config_option
@_camera_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Image file to write (PNG).")
@click.option("--timeout-s", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Give up when no frame comes within this time.")
def snap(config_path: Path | None, camera_id: str | None, output: Path, timeout_s: float) -> None:
    """Save one frame from the configured camera."""
    from inspection.adapters.registry import create_adapter
    from inspection.domain.types import Frame

    options = camera_options(config_path, camera_id, any_kind=True)
    with create_adapter("camera", options) as camera:
        frame = _first_frame(camera, timeout_s)
    if not isinstance(frame, Frame):
        raise CameraError(f"camera {options.id!r}: no frame within {timeout_s:g} s"  # type: ignore[attr-defined]
                          + (f" ({frame.code}: {frame.message})" if frame is not None else ""))
    output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(output), frame.image):
        raise OutputError(f"cannot write {output}; use a .png path in a writable folder")
    click.echo(f"saved {output} ({frame.width}x{frame.height} {frame.pixel_format}) from camera {frame.camera_id}")


def _first_frame(camera: Any, timeout_s: float) -> Any:
    from inspection.domain.types import Frame

    deadline = time.monotonic() + timeout_s
    last = None
    while (left := deadline - time.monotonic()) > 0:
        item = camera.read(min(left, 1.0))
        if isinstance(item, Frame):
            return item
        last = item if item is not None else last
    return last


@click.command("record")
@_config_option
@_camera_option
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="New folder for the recording (PNG frames + frames.jsonl).")
@click.option("--frames", type=click.IntRange(min=1), help="Stop after this many parts.")
@click.option("--duration-s", type=click.FloatRange(min=0.0, min_open=True), help="Stop after this many seconds.")
def record(config_path: Path | None, camera_id: str | None, output: Path, frames: int | None,
           duration_s: float | None) -> None:
    """Record the camera's stream for replay (`kind: replay`, `path:` the folder). Ctrl-C stops."""
    from inspection.adapters.registry import create_adapter
    from inspection.camera.recording import Recorder, record_camera

    options = camera_options(config_path, camera_id, any_kind=True)
    meta = {"camera_id": getattr(options, "id", "cam0"), "config": str(config_path) if config_path else None,
            "options": options.model_dump(mode="json")}
    stop = threading.Event()
    with stop_on_signals(stop.set), create_adapter("camera", options) as camera:
        device = getattr(camera, "device", None)
        if device is not None:
            meta["device"] = device.line()
        with Recorder(output, meta) as recorder:
            count = record_camera(camera, recorder, frames, duration_s, stop=stop.is_set)
    click.echo(f"recorded {count} parts to {output}")
