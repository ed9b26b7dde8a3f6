"""`kind: genicam_line`: the reject signal on a camera's digital output line (GenICam SFNC Digital I/O).

Many industrial cameras have an opto-isolated output that can drive a reject gate or a PLC input directly:
the station selects the line (`LineSelector`), makes it an output (`LineMode = Output`) driven by a user
output (`LineSource = UserOutput1`), and sets `UserOutputValue` per part: high = reject, for `pulse_ms`
(0 = hold the level until the next part). When the station closes or an error occurs the line goes to
its fail-safe level (reject) where the camera still answers.

The camera is found like a `kind: genicam` camera (`producers:`, `device:`); when the same device is
open as a station camera, its acquirer is shared (a GenTL device opens once per process).
A camera without the SFNC Digital I/O nodes (the viky simulator has none) is a clear OutputError at open.
No part tracking or handshake here: a line carries one bit; use a PLC output for those.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from inspection.camera.genicam import DeviceSelector
from inspection.config import AdapterOptions, ConfigPath
from inspection.domain.types import Inspection
from inspection.errors import OutputError, StationError

__all__ = ["GenicamLineOutput", "Options", "create"]

log = logging.getLogger(__name__)

REQUIRED_NODES = ("LineSelector", "LineMode", "LineSource", "UserOutputSelector", "UserOutputValue")


class Options(AdapterOptions):
    kind: Literal["genicam_line"] = "genicam_line"
    producers: tuple[ConfigPath, ...] = Field((), description="GenTL .cti files; empty = $GENICAM_GENTL64_PATH")
    device: DeviceSelector = Field(DeviceSelector(), description="which camera, as for a genicam camera")
    line: str = Field("Line1", description="LineSelector entry of the output line")
    user_output: str = Field("UserOutput1", description="UserOutputSelector entry (and LineSource value)")
    pulse_ms: float = Field(20.0, ge=0.0, description="reject pulse length; 0 = hold the level until the next part")
    reject_level: bool = Field(True, description="line level meaning reject (wire the gate fail-safe)")
    timeout_s: float = Field(0.2, gt=0.0, le=10.0, description="each node write")


class GenicamLineOutput:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.published = 0
        self._harvester: Any = None
        self._own_ia: Any = None
        self._node_map: Any = None
        self._name = "camera"
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._pulse: threading.Timer | None = None
        self._ready = False

    def open(self) -> None:
        from inspection.camera import genicam

        cam_options = genicam.Options(kind="genicam", id="reject-line", producers=tuple(Path(p) for p in
                                      self.options.producers), device=self.options.device)
        producers = genicam.resolve_producers(cam_options)
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="genicam-line")
        self._harvester = genicam.pool.acquire(producers)
        try:
            with genicam.pool.lock:
                devices = [genicam._describe(info) for info in self._harvester.device_info_list]
                index = genicam._select_index(devices, cam_options.device, producers)
                device = devices[index]
                self._name = f"{device.vendor} {device.model} (serial {device.serial!r}, id {device.device_id!r})"
                ia = self._shared_acquirer(device.device_id)
                if ia is None:
                    ia = self._own_ia = self._harvester.create(index)
                self._node_map = ia.remote_device.node_map
            self._check_nodes()
            self._call(self._configure)
            self._ready = True
            self._set(False)
        except BaseException as exc:
            self.close()
            if isinstance(exc, StationError):
                raise OutputError(str(exc)) from None
            raise

    def _shared_acquirer(self, device_id: str) -> Any:
        for ia in getattr(self._harvester, "image_acquirers", []) or []:
            info = getattr(getattr(ia, "device", None), "id_", None)
            if info == device_id:
                return ia
        return None

    def _check_nodes(self) -> None:
        nm = self._node_map
        missing = [n for n in REQUIRED_NODES if not hasattr(nm, n)]
        if missing:
            raise OutputError(
                f"{self._name} has no digital output ({', '.join(missing)} missing from its GenICam node map), so "
                f"it cannot drive a reject line; wire the gate to a PLC and use output kind modbus, s7 or opcua")
        for node, entry in (("LineSelector", self.options.line), ("UserOutputSelector", self.options.user_output)):
            entries = list(getattr(getattr(nm, node), "symbolics", []) or [])
            if entries and entry not in entries:
                raise OutputError(f"{self._name}: {node} has no entry {entry!r}; it has {', '.join(entries)}")

    def _configure(self) -> None:
        nm = self._node_map
        nm.LineSelector.value = self.options.line
        nm.LineMode.value = "Output"
        nm.LineSource.value = self.options.user_output
        nm.UserOutputSelector.value = self.options.user_output

    def _call(self, action: Callable[[], None]) -> None:
        """Node writes go through one worker so a hung transport costs publish timeout_s, not forever."""
        assert self._worker is not None
        future = self._worker.submit(action)
        try:
            future.result(timeout=self.options.timeout_s)
        except concurrent.futures.TimeoutError:
            raise OutputError(f"{self._name}: output line write took more than {self.options.timeout_s} s") from None
        except Exception as exc:
            raise OutputError(f"{self._name}: cannot set {self.options.line} ({self.options.user_output}): "
                              f"{exc}") from None

    def _set(self, reject: bool) -> None:
        level = reject == self.options.reject_level

        def write() -> None:
            self._node_map.UserOutputSelector.value = self.options.user_output
            self._node_map.UserOutputValue.value = level

        self._call(write)

    def publish(self, inspection: Inspection) -> None:
        if not self._ready:
            raise OutputError(f"{self._name}: reject line not open; verdict for part {inspection.frame.key} not "
                              f"delivered")
        reject = inspection.verdict.status.rejects
        if self._pulse is not None:
            self._pulse.cancel()
        self._set(reject)
        self.published += 1
        if reject and self.options.pulse_ms > 0:
            self._pulse = threading.Timer(self.options.pulse_ms / 1000.0, self._end_pulse)
            self._pulse.daemon = True
            self._pulse.start()

    def _end_pulse(self) -> None:
        try:
            self._set(False)
        except OutputError as exc:
            log.error("%s", exc)

    def close(self) -> None:
        from inspection.camera import genicam

        if self._pulse is not None:
            self._pulse.cancel()
        if self._ready:
            try:  # leave the line at the fail-safe level: whatever comes next, nothing passes unseen
                self._set(True)
            except OutputError as exc:
                log.warning("%s", exc)
        if self._own_ia is not None:
            with genicam.pool.lock:
                genicam._destroy(self._harvester, self._own_ia)
            self._own_ia = None
        if self._harvester is not None:
            self._harvester = None
            genicam.pool.release()
        self._node_map = None
        self._ready = False
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None

    def __enter__(self) -> GenicamLineOutput:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create(options: Options, **_: object) -> GenicamLineOutput:
    return GenicamLineOutput(options)
