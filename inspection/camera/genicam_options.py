"""Configuration of a GenICam camera (`kind: genicam`): device selector, trigger, reconnect, features.

Its own module so the GenTL layer (`gentl`), the node writer (`genicam_nodes`) and the adapter
(`genicam`) all read one definition without importing each other in a circle.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from inspection.camera.pixel_formats import OutputFormat
from inspection.config import AdapterOptions, ConfigPath, StrictModel, read_yaml, validate_model
from inspection.errors import ConfigError

__all__ = ["ENV_PRODUCER_PATH", "PACKAGE_PREFIX", "DeviceSelector", "FeatureValue", "Options", "ReconnectOptions",
           "TriggerOptions", "load_camera_options"]

FeatureValue = bool | int | float | str

ENV_PRODUCER_PATH = "GENICAM_GENTL64_PATH"

PACKAGE_PREFIX = "package:"


# --- configuration ---------------------------------------------------------------------------------


class DeviceSelector(StrictModel):
    """Which device: every key given must match; none given = the first device found."""

    serial: str | None = Field(None, description="DeviceSerialNumber, the most stable choice")
    user_id: str | None = Field(None, description="DeviceUserID, a name written into the camera")
    model: str | None = None
    vendor: str | None = None
    device_id: str | None = Field(None, description="the GenTL device id, e.g. VikyTL_DEV_red")
    index: int | None = Field(None, ge=0, description="position in the device list (changes with cabling)")

    def describe(self) -> str:
        keys = {k: v for k, v in self.model_dump().items() if v is not None}
        return ", ".join(f"{k}={v!r}" for k, v in keys.items()) or "(first device)"


class TriggerOptions(StrictModel):
    """free_run: the camera streams at its frame rate. software: each `read()` fires TriggerSoftware.
    hardware: a part sensor on `source` (Line0…) fires it. Needs the SFNC trigger nodes on the camera."""

    mode: Literal["free_run", "software", "hardware"] = "free_run"
    selector: str = Field("FrameStart", description="TriggerSelector entry")
    source: str | None = Field(None, description="TriggerSource: Line0/Line1… for hardware; Software for software")
    activation: Literal["RisingEdge", "FallingEdge", "AnyEdge", "LevelHigh", "LevelLow"] | None = None
    delay_us: float | None = Field(None, ge=0.0, description="TriggerDelay")


class ReconnectOptions(StrictModel):
    lost_after_s: float = Field(2.0, gt=0.0, description="free run: no frame for this long = camera lost")
    initial_backoff_s: float = Field(0.2, gt=0.0, description="first wait before re-opening a lost camera")
    max_backoff_s: float = Field(5.0, gt=0.0, description="the wait doubles up to this")
    budget_s: float | None = Field(60.0, ge=0.0, description="give up (read raises CameraError) after this "
                                   "long without the camera; empty = keep trying forever")


FeatureList = tuple[tuple[str, FeatureValue], ...]


class Options(AdapterOptions):
    kind: Literal["genicam"] = "genicam"
    id: str = Field("cam0", min_length=1, description="camera id in logs and verdicts")
    config: ConfigPath | None = Field(None, description="camera YAML merged under these keys (inline keys win)")
    producers: tuple[ConfigPath, ...] | dict[str, tuple[ConfigPath, ...]] = Field(
        (), description=f"GenTL producer .cti files, or a mapping linux/windows/darwin → files; "
                        f"empty = every .cti in the folders of ${ENV_PRODUCER_PATH}")
    device: DeviceSelector = DeviceSelector()
    setup: FeatureList = Field((), description="node: value pairs applied first (user set, binning…)")
    pixel_format: str | None = Field(None, description="PixelFormat to set, e.g. Mono8, BayerRG8")
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)
    offset_x: int | None = Field(None, ge=0)
    offset_y: int | None = Field(None, ge=0)
    frame_rate_hz: float | None = Field(None, gt=0.0, description="AcquisitionFrameRate")
    exposure_us: float | None = Field(None, gt=0.0, description="ExposureTime (ExposureAuto is turned Off)")
    gain_db: float | None = Field(None, ge=0.0, description="Gain (GainAuto is turned Off)")
    trigger: TriggerOptions = TriggerOptions()
    features: FeatureList = Field((), description="node: value pairs applied last, in order")
    output: OutputFormat = Field("bgr8", description="what the detector gets: bgr8 or mono8")
    num_buffers: int = Field(16, ge=1, le=256, description="buffers announced to the producer (absorb jitter)")
    queue_size: int = Field(16, ge=1, description="converted frames waiting for read(); oldest dropped")
    fetch_timeout_s: float = Field(0.5, gt=0.0, description="longest single wait for a buffer")
    reconnect: ReconnectOptions = ReconnectOptions()

    @model_validator(mode="before")
    @classmethod
    def _merge_camera_yaml(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or data.get("config") is None:
            return data
        path = Path(os.path.expandvars(str(data["config"]))).expanduser()
        base = (info.context or {}).get("base_dir")
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        raw = read_yaml(path)
        if "config" in raw:
            raise ConfigError(f"{path}: config: a camera YAML cannot name another camera YAML")
        if raw.get("kind", "genicam") != "genicam":
            raise ConfigError(f"{path}: kind: expected 'genicam' (or no kind), got {raw['kind']!r}")
        # Validate the camera file on its own so errors name it, and its paths resolve next to it.
        camera = validate_model(cls, {**raw, "kind": "genicam"}, str(path), base_dir=path.resolve().parent)
        merged = _deep_merge(camera.model_dump(exclude_unset=True, exclude={"kind"}), data)
        merged["config"] = path
        return merged

    @field_validator("producers", mode="before")
    @classmethod
    def _package_producers(cls, value: Any) -> Any:
        """`package:genicam/viky.cti` = a file inside an installed Python package (wherever the venv is)."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, dict):
            return {k: cls._package_producers(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return tuple(_package_file(v) if isinstance(v, str) and v.startswith(PACKAGE_PREFIX) else v
                         for v in value)
        return value

    @field_validator("setup", "features", mode="before")
    @classmethod
    def _feature_pairs(cls, value: Any) -> Any:
        """Accept a mapping (YAML keeps its order) or a list of one-key mappings (repeats allowed,
        e.g. LineSelector / LineMode pairs)."""
        if value is None:
            return ()
        if isinstance(value, dict):
            return tuple(value.items())
        if isinstance(value, list | tuple):
            pairs = []
            for item in value:
                if isinstance(item, dict) and len(item) == 1:
                    pairs.append(next(iter(item.items())))
                elif isinstance(item, list | tuple) and len(item) == 2:
                    pairs.append(tuple(item))
                else:
                    raise ValueError(f"expected a list of 'Node: value' entries, got {item!r}")
            return tuple(pairs)
        return value


def _package_file(spec: str) -> str:
    package, _, rest = spec[len(PACKAGE_PREFIX):].partition("/")
    found = importlib.util.find_spec(package) if package else None
    if found is None or not found.submodule_search_locations:
        raise ValueError(f"{spec}: Python package {package!r} is not installed (pip install {package})")
    return str(Path(next(iter(found.submodule_search_locations))) / rest)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict) and key != "producers":
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_camera_options(path: Path, camera_id: str | None = None) -> Options:
    """Options from a camera YAML, or from the genicam camera of a station YAML (`--camera` picks one)."""
    raw = read_yaml(path)
    if "cameras" not in raw:
        return validate_model(Options, {**raw, "kind": "genicam"}, str(path), base_dir=path.resolve().parent)
    from inspection.config import load_station_config  # station configs pull in every adapter's options

    cameras = [c for c in load_station_config(path).cameras if isinstance(c, Options)]
    if camera_id is not None:
        cameras = [c for c in cameras if c.id == camera_id]
    if not cameras:
        which = f"with id {camera_id!r} " if camera_id else ""
        raise ConfigError(f"{path}: cameras: no 'kind: genicam' camera {which}in this station config")
    return cameras[0]
