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

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspection.camera import CameraBase
from inspection.camera.genicam_nodes import apply_settings, describe_device, device_temperature
from inspection.camera.genicam_options import (
    ENV_PRODUCER_PATH,
    DeviceSelector,
    Options,
    ReconnectOptions,
    TriggerOptions,
    load_camera_options,
)
from inspection.camera.gentl import (
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
from inspection.camera.pixel_formats import to_frame_image
from inspection.domain.types import Frame, FrameFailure
from inspection.errors import CameraError

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

_TEMPERATURE_EVERY_S = 10.0  # DeviceTemperature is a register read on the control channel: seldom is enough

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
        self._temperature: float | None = None
        self._temperature_at = -_TEMPERATURE_EVERY_S

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

    def health_signals(self) -> dict[str, float]:
        """Health probe (inspection.health.probe): `camera_temp_c` where the device has `DeviceTemperature`.
        Read from the caller's thread (never the grab thread), at most every `_TEMPERATURE_EVERY_S`;
        absent when the device has no such node or is reconnecting."""
        now = time.monotonic()
        if now - self._temperature_at >= _TEMPERATURE_EVERY_S:
            self._temperature_at = now
            with pool.lock:  # the acquirer is not destroyed under us by a reconnect
                ia = self._ia
                self._temperature = device_temperature(ia.remote_device.node_map) if ia is not None else None
        return {} if self._temperature is None else {"camera_temp_c": self._temperature}

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
