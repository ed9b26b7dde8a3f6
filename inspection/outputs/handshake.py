"""The station ↔ PLC handshake, as integrators know it from smart-camera PLC interfaces.

```
PLC     Trigger ──┐ (with PartId)               ResultAck ──┐
Station            └─ TriggerAck, Busy    ResultValid + Reject/ResultCode/ErrorCode/PartId ─┘─ ResultValid=0
PLC     JobChange ──┐ (with RecipeSelect, LotName)        ResetAlarm ──┐
Station              └─ JobAck + JobNumber (or ErrorCode)                └─ Fault=0 (if the cause is gone)
```

Pure logic: this module turns verdicts and input snapshots into ordered signal writes; the supervisor
does the I/O. Only signals present in the map are written. Nothing here blocks: if the PLC does not
acknowledge a result before the next one, the next result overwrites it and `unacked` counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inspection.domain.types import Inspection
from inspection.outputs.link import Value
from inspection.outputs.signal_map import SignalMap, defect_bits, error_code, result_code

__all__ = ["Edges", "Handshake"]


@dataclass
class Edges:
    """What changed on the PLC side since the previous poll."""

    trigger: bool = False
    trigger_released: bool = False
    result_ack: bool = False
    job_change: bool = False
    job_released: bool = False
    reset_alarm: bool = False
    plc_heartbeat_changed: bool = False
    part_id: str | None = None
    job_number: int | None = None
    lot_name: str | None = None
    values: dict[str, Value] = field(default_factory=dict)


def _as_wire(part_id: str) -> Value:
    """Numeric part ids travel as numbers; others as text (the address must then be a text address)."""
    return int(part_id) if part_id.isascii() and part_id.isdigit() else part_id  # not "²" or "١٢"


class Handshake:
    def __init__(self, smap: SignalMap) -> None:
        self.smap = smap
        self.configured = set(smap.signals())
        self.sequence = 0
        self.awaiting_ack = False
        self.unacked = 0
        self._prev: dict[str, Value] = {}

    def has(self, name: str) -> bool:
        return name in self.configured

    def keep(self, items: list[tuple[str, Value]]) -> list[tuple[str, Value]]:
        return [(n, v) for n, v in items if n in self.configured]

    def result(self, inspection: Inspection | None, part_id: str, late: bool = False) -> list[tuple[str, Value]]:
        """Writes for one result, data first and result_valid last. `inspection` None = not inspected."""
        if self.awaiting_ack:
            self.unacked += 1
        self.sequence = (self.sequence + 1) & 0x7FFFFFFF
        reject = late or inspection is None or inspection.verdict.status.rejects
        items: list[tuple[str, Value]] = [
            ("outputs.part_id", _as_wire(part_id)),
            ("outputs.sequence", self.sequence),
            ("outputs.result_code", result_code(self.smap, inspection, late)),
            ("outputs.error_code", error_code(self.smap, inspection, late)),
            ("outputs.defect_bits", defect_bits(self.smap, inspection)),
            ("outputs.busy", False),
            ("outputs.reject", reject),
            ("outputs.result_valid", True),
        ]
        self.awaiting_ack = self.has("inputs.result_ack") and self.has("outputs.result_valid")
        return self.keep(items)

    def inputs(self) -> list[str]:
        return sorted(n for n in self.configured if n.startswith("inputs."))

    def edges(self, now: dict[str, Value]) -> Edges:
        """Compare a fresh input snapshot with the previous one. Before the first snapshot every bit counts as
        0: a PLC already holding trigger (or job change) when the station connects is waiting for our ack."""
        prev, first = self._prev, not self._prev
        self._prev = dict(now)

        def rose(name: str) -> bool:
            return bool(now.get(name)) and not bool(prev.get(name))

        def fell(name: str) -> bool:
            return not bool(now.get(name)) and bool(prev.get(name))

        part = now.get("inputs.part_id")
        job = now.get("inputs.recipe_select")
        lot = now.get("inputs.lot_name")
        return Edges(
            trigger=rose("inputs.trigger"), trigger_released=fell("inputs.trigger"),
            result_ack=rose("inputs.result_ack"),
            job_change=rose("inputs.job_change") or (not self.has("inputs.job_change") and not first
                                                     and job is not None and job != prev.get("inputs.recipe_select")),
            job_released=fell("inputs.job_change"),
            reset_alarm=rose("inputs.reset_alarm"),
            plc_heartbeat_changed=first or now.get("inputs.heartbeat") != prev.get("inputs.heartbeat"),
            part_id=None if part is None or part == "" else str(part),
            job_number=None if job is None else int(job),
            lot_name=None if lot is None else str(lot),
            values=dict(now),
        )

    def on_trigger(self) -> list[tuple[str, Value]]:
        return self.keep([("outputs.busy", True), ("outputs.trigger_ack", True)])

    def on_trigger_released(self) -> list[tuple[str, Value]]:
        return self.keep([("outputs.trigger_ack", False)])

    def on_result_ack(self) -> list[tuple[str, Value]]:
        self.awaiting_ack = False
        return self.keep([("outputs.result_valid", False)])

    def on_job_done(self, job_number: int) -> list[tuple[str, Value]]:
        return self.keep([("outputs.job_number", job_number), ("outputs.error_code", 0), ("outputs.job_ack", True)])

    def on_job_failed(self) -> list[tuple[str, Value]]:
        code = self.smap.error_codes.get("job_change_failed", self.smap.error_codes.get("other", 1))
        return self.keep([("outputs.error_code", code), ("outputs.job_ack", False)])

    def on_job_released(self) -> list[tuple[str, Value]]:
        return self.keep([("outputs.job_ack", False)])

    def status(self, *, ready: bool, running: bool, fault: bool) -> list[tuple[str, Value]]:
        return self.keep([("outputs.ready", ready), ("outputs.running", running), ("outputs.fault", fault)])

    def failsafe(self) -> list[tuple[str, Value]]:
        """What the outputs show when the station cannot vouch for parts: reject, fault, not ready."""
        return self.keep([("outputs.result_valid", False), ("outputs.reject", True), ("outputs.fault", True),
                          ("outputs.ready", False), ("outputs.busy", False)])
