"""Camera adapter `twin`: parts made by the process twin, rendered as camera frames.

With it the whole station (detector, judge, reject output, log, controller) runs against the twin: the
twin makes each part with the setpoints in force when the camera reads, so the controller's changes
show up in the next parts' images. The twin is `camera.twin`; give the controller
`InProcessTwin(camera.twin)` (or serve it with `TwinServer` and use the `opcua` process port).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from inspection.camera import CameraBase, EndOfStream
from inspection.config import AdapterOptions
from inspection.domain.types import Frame
from inspection.errors import CameraError
from inspection.simulation.twin import ProcessTwin
from inspection.simulation.twin_line import TwinLine

__all__ = ["Options", "TwinCamera", "create"]


class Options(AdapterOptions):
    kind: Literal["twin"] = "twin"
    id: str = Field("twin", min_length=1, description="camera id in logs and verdicts")
    process: Literal["solder", "paint"] = "solder"
    seed: int = 0
    drift: dict[str, float] | None = Field(None, description="units per 100 parts; default: the twin's own")
    noise: float = Field(0.15, ge=0)
    width: int = Field(160, ge=32, le=4096)
    height: int = Field(160, ge=32, le=4096)
    max_parts: int | None = Field(None, ge=1, description="end of stream after this many parts")
    rate_hz: float | None = Field(None, ge=0.001, le=100_000.0,
                                  description="parts per second, like a line (0.001–100000); empty = as fast as read")


class TwinCamera(CameraBase):
    def __init__(self, options: Options, twin: ProcessTwin | None = None) -> None:
        self.options = options
        self.camera_id = options.id
        self.twin = twin or ProcessTwin(options.process, options.seed, options.drift, options.noise)
        self._line: TwinLine | None = None
        self._made = 0
        self._next_due = 0.0

    def open(self) -> None:
        self._line = TwinLine(self.twin, (self.options.height, self.options.width), self.camera_id)
        self._next_due = time.monotonic()

    def close(self) -> None:
        self._line = None

    def read(self, timeout_s: float) -> Frame | None:
        if self._line is None:
            raise CameraError(f"twin camera {self.camera_id} is not open; open() it first")
        if self.options.max_parts is not None and self._made >= self.options.max_parts:
            raise EndOfStream(self.camera_id)
        if self.options.rate_hz is not None:
            wait_s = self._next_due - time.monotonic()
            if wait_s > timeout_s:
                time.sleep(max(timeout_s, 0.0))
                return None  # the next part is not due yet
            time.sleep(max(wait_s, 0.0))
            self._next_due = max(self._next_due, time.monotonic() - 1.0) + 1.0 / self.options.rate_hz
        self._made += 1
        return self._line.next().frame


def create(options: Options, twin: ProcessTwin | None = None, **_: Any) -> TwinCamera:
    return TwinCamera(options, twin)
