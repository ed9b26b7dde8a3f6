"""Part tracking: which part a verdict belongs to, and whether it can still reach the reject gate.

The gate sits downstream of the camera, either M ms later (`mode: time`) or N parts later
(`mode: positions`, the PLC's shift register: every trigger / part-present edge shifts the conveyor by
one position). A verdict that arrives after its part passed the gate cannot reject it any more: it is
reported to the PLC as a fail-safe reject and counted as late. A part the PLC triggered that gets no
verdict at all before the gate is reported as "not inspected" (a reject) and counted.

Identity: the frame's `part_id` wins (camera trigger / barcode); otherwise, when the PLC triggers parts,
the oldest triggered part without a verdict (FIFO: parts cannot overtake on a conveyor); otherwise the
frame's sequence number. A trigger whose frame never came (a spurious trigger, a frame the camera lost)
would shift every later verdict onto the part before it, so a trigger more than `frame_within_ms` older
than the frame being matched is stale: it is taken out and reported "not inspected" (a reject), and the
frame is matched to the next one. Triggers beyond `max_pending` are reported the same way, never dropped
silently.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from inspection.config import StrictModel
from inspection.domain.types import Inspection

__all__ = ["PartTracker", "Pending", "Tracked", "TrackingOptions"]


class TrackingOptions(StrictModel):
    mode: Literal["none", "time", "positions"] = Field(
        "none", description="none: every verdict is in time; time: gate gate_delay_ms after the part; "
                            "positions: gate gate_positions parts after the camera (needs inputs.trigger)")
    gate_delay_ms: float = Field(0.0, ge=0.0, description="time mode: trigger/frame → gate, in ms")
    gate_positions: int = Field(0, ge=0, description="positions mode: shift-register length camera → gate")
    margin_ms: float = Field(5.0, ge=0.0, description="time mode: PLC cycle + actuator time kept in hand")
    max_pending: int = Field(1024, ge=1, description="triggered parts remembered without a verdict; older ones "
                             "are reported not inspected")
    frame_within_ms: float = Field(1000.0, gt=0.0, le=600_000.0, description="a PLC trigger's frame comes within "
                                   "this (exposure + transfer); an older unmatched trigger is reported not "
                                   "inspected instead of taking the next part's verdict")

    @model_validator(mode="after")
    def _mode_has_its_distance(self) -> TrackingOptions:
        if self.mode == "time" and self.gate_delay_ms <= 0:
            raise ValueError("tracking.mode time needs gate_delay_ms > 0 (trigger → reject gate, in ms)")
        if self.mode == "positions" and self.gate_positions <= 0:
            raise ValueError("tracking.mode positions needs gate_positions > 0 (camera → gate, in parts)")
        return self


@dataclass(frozen=True, slots=True)
class Pending:
    """A part the PLC triggered that has no verdict yet."""

    part_id: str
    t_trigger_s: float
    position: int


@dataclass(frozen=True, slots=True)
class Tracked:
    """The identity a verdict is reported under, whether it missed its gate, and the stale triggers skipped
    to find it (each to be reported "not inspected")."""

    part_id: str
    late: bool
    source: Literal["frame", "plc", "sequence"]
    stale: tuple[Pending, ...] = ()


class PartTracker:
    """Thread-safe: triggers come from the PLC poll thread, verdicts from the pipeline thread."""

    def __init__(self, options: TrackingOptions) -> None:
        self.options = options
        self._pending: deque[Pending] = deque()
        self._lock = threading.Lock()
        self.entered = 0  # parts that entered the shift register (trigger edges)
        self.late = 0
        self.not_inspected = 0
        self.dropped = 0

    def on_trigger(self, part_id: str | None, now_s: float) -> Pending | None:
        """A PLC trigger / part-present edge: one more part on the conveyor. Returns the oldest part pushed
        out when `max_pending` are already waiting (to be reported not inspected), else None."""
        with self._lock:
            self.entered += 1
            pending = Pending(part_id if part_id else f"plc#{self.entered}", now_s, self.entered)
            dropped = None
            if len(self._pending) >= self.options.max_pending:
                dropped = self._pending.popleft()
                self.dropped += 1
                self.not_inspected += 1
            self._pending.append(pending)
            return dropped

    def resolve(self, inspection: Inspection, now_s: float) -> Tracked:
        """Match a verdict to its part and decide whether it is late."""
        frame = inspection.frame
        with self._lock:
            stale = self._stale(frame.timestamp_s) if frame.part_id is None else ()
            pending = self._take(frame.part_id)
            if frame.part_id is not None:
                part_id, source = frame.part_id, "frame"
            elif pending is not None:
                part_id, source = pending.part_id, "plc"
            else:
                part_id, source = str(frame.sequence), "sequence"
            t_ref = pending.t_trigger_s if pending is not None else frame.timestamp_s
            late = self._past_gate(t_ref, pending.position if pending else None, now_s)
            self.late += int(late)
            return Tracked(part_id, late, source, stale)  # type: ignore[arg-type]

    def _stale(self, frame_s: float) -> tuple[Pending, ...]:
        """Oldest triggers far older than this frame: their frames never came."""
        limit_s = self.options.frame_within_ms / 1000.0
        stale = []
        while self._pending and frame_s - self._pending[0].t_trigger_s > limit_s:
            stale.append(self._pending.popleft())
        self.not_inspected += len(stale)
        return tuple(stale)

    def expired(self, now_s: float) -> list[Pending]:
        """Triggered parts that passed the gate without a verdict (oldest first); counted as not inspected."""
        gone: list[Pending] = []
        with self._lock:
            while self._pending and self._past_gate(self._pending[0].t_trigger_s, self._pending[0].position, now_s):
                gone.append(self._pending.popleft())
            self.not_inspected += len(gone)
        return gone

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _take(self, part_id: str | None) -> Pending | None:
        if part_id is not None:
            for i, p in enumerate(self._pending):
                if p.part_id == part_id:
                    del self._pending[i]
                    return p
            return None
        return self._pending.popleft() if self._pending else None

    def _past_gate(self, t_ref_s: float, position: int | None, now_s: float) -> bool:
        o = self.options
        if o.mode == "time":
            return (now_s - t_ref_s) * 1000.0 > o.gate_delay_ms - o.margin_ms
        if o.mode == "positions" and position is not None:
            return self.entered - position >= o.gate_positions
        return False
