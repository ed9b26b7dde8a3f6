"""GenICam camera adapter: any GigE Vision / USB3 Vision camera through its vendor's GenTL producer
(`.cti`) and `harvesters`.

One camera = one device = one grab thread. The thread fetches each buffer with a timeout, converts
(and so copies) its pixels while it holds the buffer, and gives the buffer straight back to the
producer; frames wait for `read()` in a bounded queue (the oldest is dropped and counted when the
station falls behind). A device that stops answering raises a `camera_lost` event, delivers a
`FrameFailure(code="camera_lost")` for the part in flight, and is re-opened with exponential backoff;
when the reconnect budget is spent `read()` raises CameraError. See docs/cameras.md.

Camera YAML (`camera_configs/*.yaml`) holds the per-model settings; a station's `cameras:` entry is
`kind: genicam` with either the same keys inline or `config: camera_configs/viky.yaml` (inline keys
win). Feature values are applied in a fixed order: stop, `setup`, pixel format, ROI, frame rate,
exposure, gain, trigger, `features`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from inspection.camera import CameraBase
from inspection.camera.genicam_nodes import FeatureValue, apply_settings, describe_device
from inspection.camera.gentl import (
    ENV_PRODUCER_PATH,
    DeviceDescription,
    HarvesterPool,
    _describe,
    _destroy,
    _restore_sigint,
    _select_index,
    _sigint_handler,
    list_devices,
    pool,
    resolve_producers,
)
from inspection.camera.pixel_formats import OutputFormat, to_frame_image
from inspection.config import AdapterOptions, ConfigPath, StrictModel, read_yaml, validate_model
from inspection.domain.types import Frame, FrameFailure
from inspection.errors import CameraError, ConfigError

__all__ = [
    "ENV_PRODUCER_PATH",
    "CameraCounters",
    "CameraEvent",
    "DeviceDescription",
    "DeviceSelector",
    "GenicamCamera",
    "HarvesterPool",
    "Options",
    "ReconnectOptions",
    "TriggerOptions",
    "create",
    "list_devices",
    "load_camera_options",
    "pool",
    "resolve_producers",
]

log = logging.getLogger(__name__)

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


def create(options: Options, on_event: Callable[[CameraEvent], None] | None = None, **_: object) -> GenicamCamera:
    return GenicamCamera(options, on_event=on_event)


# --- events and counters ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """Something the station should log as an alarm or info event (`kind`: camera_lost,
    camera_reconnected, camera_gave_up)."""

    kind: str
    message: str
    camera_id: str
    timestamp_s: float


@dataclass(frozen=True, slots=True)
class CameraCounters:
    frames: int = 0
    dropped_queue: int = 0
    dropped_device: int = 0
    incomplete: int = 0
    lost: int = 0
    reconnects: int = 0

    @property
    def dropped(self) -> int:
        """Frames that never reached read(): overflowed the queue or skipped by the device (frame-id gaps)."""
        return self.dropped_queue + self.dropped_device


class _Counters:
    """Mutable twin of CameraCounters, written by the grab thread only."""

    def __init__(self) -> None:
        self.frames = self.dropped_queue = self.dropped_device = self.incomplete = self.lost = self.reconnects = 0

    def snapshot(self) -> CameraCounters:
        return CameraCounters(self.frames, self.dropped_queue, self.dropped_device, self.incomplete, self.lost,
                              self.reconnects)


# --- the camera -------------------------------------------------------------------------------------


class GenicamCamera(CameraBase):
    def __init__(self, options: Options, on_event: Callable[[CameraEvent], None] | None = None) -> None:
        self.options = options
        self.camera_id = options.id
        self.event_listeners: list[Callable[[CameraEvent], None]] = [on_event] if on_event else []
        self.events: deque[CameraEvent] = deque(maxlen=200)
        self.device: DeviceDescription | None = None
        self._counters = _Counters()
        self._items: deque[Frame | FrameFailure] = deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._producers: tuple[Path, ...] = ()
        self._harvester: Any = None
        self._ia: Any = None
        self._gave_up: str | None = None
        self._last_frame_id: int | None = None
        self._sequence_offset = 0
        self._last_sequence = -1
        self._timestamps = True
        self._last_frame_at = 0.0
        self._lost_since = 0.0
        self._sequence_lock = threading.Lock()  # read() (software trigger) and the grab thread both number parts
        self._backoff = options.reconnect.initial_backoff_s

    # --- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        if self._thread is not None:
            raise CameraError(f"camera {self.camera_id!r} is already open")
        self._gave_up, self._items = None, deque()
        self._producers = resolve_producers(self.options)
        self._harvester = pool.acquire(self._producers)
        try:
            devices = [_describe(info) for info in self._harvester.device_info_list]
            try:
                index = _select_index(devices, self.options.device, self._producers)
            except CameraError as exc:
                raise CameraError(f"camera {self.camera_id!r}: {exc}") from None
            self.device = devices[index]
            self._connect()
        except BaseException:
            self._disconnect()
            pool.release()
            self._harvester = None
            raise
        self._stop.clear()
        self._thread = threading.Thread(target=self._grab_loop, name=f"genicam-{self.camera_id}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.fetch_timeout_s + 5.0)
            self._thread = None
        self._disconnect()
        if self._harvester is not None:
            self._harvester = None
            pool.release()

    @property
    def counters(self) -> CameraCounters:
        return self._counters.snapshot()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def acquirer(self) -> Any:
        """The harvesters ImageAcquirer in use (None while reconnecting): for diagnostics and tests."""
        return self._ia

    # --- reading --------------------------------------------------------------------------------

    def read(self, timeout_s: float) -> Frame | FrameFailure | None:
        if self._thread is None:
            raise CameraError(f"camera {self.camera_id!r}: read() before open()")
        if self.options.trigger.mode == "software" and self._connected.is_set() and not self._items:
            self._fire_software_trigger()
        item = self._take(timeout_s)
        if item is not None:
            return item
        if self._gave_up is not None:
            raise CameraError(self._gave_up)
        if self.options.trigger.mode == "software" and not self._connected.is_set():
            # The station asked for a part and there is no camera to image it: fail-safe, not silence.
            return self._failure("camera_lost", f"camera {self.camera_id!r} is lost; reconnecting")
        return None

    def _fire_software_trigger(self) -> None:
        with pool.lock:
            ia = self._ia
            if ia is None:
                return
            try:
                ia.remote_device.node_map.TriggerSoftware.execute()
            except Exception as exc:
                log.warning("camera %s: TriggerSoftware failed: %s", self.camera_id, exc)

    # --- connection -----------------------------------------------------------------------------

    def _connect(self) -> None:
        """Create the acquirer for the selected device, apply the settings and start streaming."""
        assert self.device is not None
        with pool.lock:
            devices = [_describe(info) for info in self._harvester.device_info_list]
            index = next((i for i, d in enumerate(devices) if d.device_id == self.device.device_id), None)
            if index is None:
                raise CameraError(f"camera {self.camera_id!r}: device {self.device.device_id!r} is not in the "
                                  f"producer's device list")
            previous = _sigint_handler()
            try:
                from harvesters.core import ParameterKey, ParameterSet

                # No chunk data is used: skip harvesters' per-buffer chunk parsing (CPU per frame).
                ia = self._harvester.create(index, config=ParameterSet(
                    {ParameterKey.ENABLE_AUTO_CHUNK_DATA_UPDATE: False}))
            except Exception as exc:
                raise CameraError(f"camera {self.camera_id!r}: cannot open {self._name()}: {exc}") from None
            finally:
                _restore_sigint(previous)
            try:
                ia.num_buffers = self.options.num_buffers
                apply_settings(ia.remote_device.node_map, self.options, describe_device(self.camera_id, self.device))
                self._count_incomplete(ia)
                ia.start()
            except BaseException:
                _destroy(self._harvester, ia)
                raise
            self._ia = ia
            self._last_frame_id = None
            self._last_frame_at = time.monotonic()
            self._connected.set()

    def _disconnect(self) -> None:
        self._connected.clear()
        with pool.lock:
            ia, self._ia = self._ia, None
            if ia is not None:
                _destroy(self._harvester, ia)

    def _count_incomplete(self, ia: Any) -> None:
        from harvesters.core import Callback

        camera = self

        class _Incomplete(Callback):
            def emit(self, context: object = None) -> None:
                camera._on_incomplete()

        ia.add_callback(ia.Events.INCOMPLETE_BUFFER, _Incomplete())

    def _on_incomplete(self) -> None:
        self._counters.incomplete += 1
        if self.options.trigger.mode != "free_run":  # triggered: this buffer was a part's only image
            self._push(self._failure("incomplete_buffer", f"camera {self.camera_id!r} delivered an incomplete buffer"))

    # --- grab thread ----------------------------------------------------------------------------

    def _grab_loop(self) -> None:
        while not self._stop.is_set():
            if self._ia is None:
                self._reconnect()
                continue
            try:
                self._grab_one(self._ia)
            except Exception as exc:  # the device or its stream went away under us
                if self._stop.is_set():
                    break
                self._lose(f"{type(exc).__name__}: {exc}")

    def _grab_one(self, ia: Any) -> None:
        from genicam.gentl import TimeoutException

        try:
            buffer = ia.fetch(timeout=self.options.fetch_timeout_s)
        except TimeoutException:
            waited = time.monotonic() - self._last_frame_at
            if self.options.trigger.mode == "free_run" and waited > self.options.reconnect.lost_after_s:
                self._lose(f"no frame for {waited:.1f} s in free run")
            return
        if buffer is None:  # harvesters discarded a buffer it could not describe
            self._counters.incomplete += 1
            return
        received = time.time()
        with buffer:  # converting copies the pixels; leaving the block re-queues the buffer at once
            item = self._to_frame(buffer, received)
        self._last_frame_at = time.monotonic()
        self._push(item)
        # Hand the GIL to the reader now: harvesters' fetch polls GenTL while holding the GIL, so without
        # this the reader can wait a whole switch interval (5 ms = one frame at 200 fps) for each frame.
        # (Sleeping longer to save the polling CPU was tried: on a loaded PC each wake-up comes late and
        # the rate drops to a third.)
        time.sleep(0)

    def _to_frame(self, buffer: Any, received: float) -> Frame | FrameFailure:
        component = buffer.payload.components[0]
        frame_id = self._frame_id(buffer)
        with self._sequence_lock:
            sequence = self._next_sequence(frame_id)
        try:
            image = to_frame_image(component.data, component.width, component.height, component.data_format,
                                   self.options.output)
        except CameraError as exc:
            return FrameFailure(self.camera_id, sequence, received, "bad_buffer", str(exc))
        image.flags.writeable = False  # owned already: Frame keeps it without a second copy
        self._counters.frames += 1
        return Frame(image, self.camera_id, sequence, received, device_timestamp_ns=self._device_time(buffer),
                     source=f"{self.device.device_id if self.device else 'genicam'}#{frame_id}",
                     pixel_format=self.options.output)

    def _frame_id(self, buffer: Any) -> int | None:
        try:
            return int(buffer.module.frame_id)
        except Exception:
            return None

    def _next_sequence(self, frame_id: int | None) -> int:
        """The buffer's frame id, kept increasing across reconnects (a re-opened device counts from 1
        again); gaps in the frame ids are frames the device or producer dropped."""
        if frame_id is None:
            sequence = self._last_sequence + 1
        else:
            if self._last_frame_id is None:
                self._sequence_offset = self._last_sequence + 1 - frame_id if self._last_sequence >= 0 else 0
            elif frame_id > self._last_frame_id + 1:
                self._counters.dropped_device += frame_id - self._last_frame_id - 1
            self._last_frame_id = frame_id
            sequence = max(frame_id + self._sequence_offset, self._last_sequence + 1)
        self._last_sequence = sequence
        return sequence

    def _device_time(self, buffer: Any) -> int | None:
        if not self._timestamps:
            return None
        try:
            return int(buffer.module.timestamp_ns)
        except Exception:
            pass
        try:
            ticks = int(buffer.module.timestamp)
            frequency = int(buffer.timestamp_frequency)
            return ticks * 1_000_000_000 // frequency if frequency > 0 else None
        except Exception:
            self._timestamps = False  # this producer has no buffer timestamps; stop asking every frame
            return None

    def _failure(self, code: str, message: str) -> FrameFailure:
        """A part that should have had an image and has none: it takes the next sequence number."""
        with self._sequence_lock:
            self._last_sequence += 1
            sequence = self._last_sequence
        return FrameFailure(self.camera_id, sequence, time.time(), code, message)

    def _push(self, item: Frame | FrameFailure) -> None:
        """Queue for read(). When the station falls behind, the oldest *frame* is dropped (and counted);
        a FrameFailure is never dropped, since its part must still get the fail-safe verdict."""
        with self._ready:
            if len(self._items) >= self.options.queue_size:
                oldest = next((i for i, old in enumerate(self._items) if isinstance(old, Frame)), None)
                if oldest is not None:
                    del self._items[oldest]
                    self._counters.dropped_queue += 1
            self._items.append(item)
            self._ready.notify()

    def _take(self, timeout_s: float) -> Frame | FrameFailure | None:
        with self._ready:
            if not self._items:
                self._ready.wait_for(lambda: bool(self._items), timeout=max(timeout_s, 0.0))
            return self._items.popleft() if self._items else None

    # --- loss and reconnect ---------------------------------------------------------------------

    def _lose(self, why: str) -> None:
        self._counters.lost += 1
        self._disconnect()
        message = f"camera {self.camera_id!r} ({self._name()}) lost: {why}; reconnecting"
        self._emit("camera_lost", message)
        self._push(self._failure("camera_lost", message))
        self._lost_since = time.monotonic()
        self._backoff = self.options.reconnect.initial_backoff_s

    def _reconnect(self) -> None:
        settings = self.options.reconnect
        lost_for = time.monotonic() - self._lost_since
        if settings.budget_s is not None and lost_for > settings.budget_s:
            self._gave_up = (f"camera {self.camera_id!r} ({self._name()}) lost for {lost_for:.1f} s, reconnect "
                             f"budget of {settings.budget_s:g} s spent; check its cable, power and IP settings")
            self._emit("camera_gave_up", self._gave_up)
            self._stop.set()
            return
        if self._stop.wait(self._backoff):
            return
        self._backoff = min(self._backoff * 2.0, settings.max_backoff_s)
        try:
            pool.refresh()  # a re-plugged device may carry a new handle; only possible when no other camera is open
            self._connect()
        except Exception as exc:
            log.info("camera %s: reconnect failed: %s", self.camera_id, exc)
            return
        self._counters.reconnects += 1
        self._emit("camera_reconnected", f"camera {self.camera_id!r} ({self._name()}) is back after {lost_for:.1f} s")

    def _emit(self, kind: str, message: str) -> None:
        event = CameraEvent(kind, message, self.camera_id, time.time())
        self.events.append(event)
        (log.error if kind != "camera_reconnected" else log.warning)("%s", message)
        for listener in self.event_listeners:
            try:
                listener(event)
            except Exception:
                log.exception("camera event listener failed")

    def _name(self) -> str:
        d = self.device
        return f"{d.vendor} {d.model} serial {d.serial!r}" if d else "no device"
