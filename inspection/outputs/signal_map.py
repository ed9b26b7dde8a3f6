"""The signal map: which PLC address carries which station signal, per protocol, in YAML.

A signal map is the contract between the station and the PLC program. Addresses are strings in the
protocol's own notation (each adapter parses and checks them when the config is loaded):

- Modbus TCP: ``coil:0``, ``hr:10`` (u16), ``hr:12:u32``, ``hr:14:i16``, ``hr:20:str16``, ``di:0``, ``ir:3``
- Siemens S7: ``DB10.DBX0.0`` (bit), ``DB10.DBB1`` (byte), ``DB10.DBW2`` (word), ``DB10.DBD4`` (dword),
  ``DB10.STRING20.16`` (S7 STRING[16] at byte 20)
- OPC UA: node ids, ``ns=2;s=Station.Result.Reject``

Station → PLC signals are under ``outputs:``, PLC → station under ``inputs:``; every signal is optional
except ``outputs.reject``. What the values mean (result codes, error codes, defect bits) is in this
model too, so the PLC programmer reads one file.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from inspection.config import StrictModel, read_yaml, validate_model
from inspection.domain.codes import ReasonCode, default_error_codes
from inspection.domain.types import Inspection, VerdictStatus
from inspection.errors import ConfigError

__all__ = [
    "MAPS_DIR",
    "InputSignals",
    "OutputSignals",
    "ResultCodes",
    "SignalKind",
    "SignalMap",
    "default_map",
    "defect_bits",
    "error_code",
    "load_signal_map",
    "result_code",
    "signal_kind",
]

MAPS_DIR = Path(__file__).with_name("maps")


class SignalKind(Enum):
    """What a signal carries; each protocol checks that its address can hold it."""

    BOOL = "bool"
    INT = "int"
    TEXT = "text"


def _sig(description: str) -> Any:
    return Field(None, description=description)


class OutputSignals(StrictModel):
    """Station → PLC. The station is the only writer of these addresses."""

    reject: str = Field(description="bool: 1 = reject this part (valid when result_valid is 1)")
    result_valid: str | None = _sig("bool: result data is complete; written last, in the same request where possible")
    result_code: str | None = _sig("int: see result_codes (pass / fail / error-failsafe / not inspected)")
    error_code: str | None = _sig("int: 0 = none; see error_codes")
    part_id: str | None = _sig("int or text: the part the result belongs to (echo of the PLC part id)")
    sequence: str | None = _sig("int: station result counter; changes with every result")
    defect_bits: str | None = _sig("int: bit i set = defect class defect_classes[i] found")
    heartbeat: str | None = _sig("int: incremented every heartbeat_period_s while the station is alive")
    ready: str | None = _sig("bool: station connected, not faulted, accepting parts")
    running: str | None = _sig("bool: station is open and inspecting")
    fault: str | None = _sig("bool: an alarm is active (connection, watchdog, write error, late parts)")
    busy: str | None = _sig("bool: a triggered part is being inspected")
    trigger_ack: str | None = _sig("bool: follows inputs.trigger once the station registered the part")
    job_ack: str | None = _sig("bool: follows inputs.job_change once the job change is done")
    job_number: str | None = _sig("int: the job (recipe) number now active")
    late_count: str | None = _sig("int: parts reported fail-safe because their verdict came after the gate deadline")
    undelivered_count: str | None = _sig("int: verdicts that could not be written while the PLC was away")


class InputSignals(StrictModel):
    """PLC → station. Read by polling every poll_period_s; all optional."""

    trigger: str | None = _sig("bool: part present / trigger; rising edge registers a part")
    part_id: str | None = _sig("int or text: identity of the triggered part, valid on the trigger edge")
    result_ack: str | None = _sig("bool: PLC took the result; the station clears result_valid")
    job_change: str | None = _sig("bool: rising edge requests the job in recipe_select")
    recipe_select: str | None = _sig("int: job (recipe) number to switch to")
    lot_name: str | None = _sig("text: lot name sent with a job change")
    reset_alarm: str | None = _sig("bool: rising edge clears latched alarms")
    heartbeat: str | None = _sig("int: PLC heartbeat; must change within plc_watchdog_s")


class ResultCodes(StrictModel):
    """Numbers written to outputs.result_code."""

    passed: int = Field(1, ge=0, le=32767)
    fail: int = Field(2, ge=0, le=32767)
    error: int = Field(3, ge=0, le=32767, description="could not be inspected: fail-safe reject")
    not_inspected: int = Field(4, ge=0, le=32767, description="the PLC triggered a part that got no verdict in time")
    review: int = Field(2, ge=0, le=32767, description="recipe asks a person to decide (the line rejects it)")

    def for_status(self, status: VerdictStatus) -> int:
        """The code of a verdict status (PLC register, OPC UA ResultState)."""
        return int(getattr(self, _STATUS_OUTCOME[status]))


DEFAULT_ERROR_CODES = default_error_codes()  # one number per ReasonCode (inspection.codes)


class SignalMap(StrictModel):
    outputs: OutputSignals
    inputs: InputSignals = InputSignals()
    result_codes: ResultCodes = ResultCodes()
    error_codes: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_ERROR_CODES),
        description="reason code (inspection.domain.codes.ReasonCode) → PLC error number; codes not listed keep their "
                    "default number",
    )
    defect_classes: list[str] = Field(
        default_factory=list, description="bit i of defect_bits = this class; empty = the model's class id")

    @field_validator("error_codes")
    @classmethod
    def _known_reason_codes(cls, codes: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(codes) - set(DEFAULT_ERROR_CODES))
        if unknown:
            raise ValueError(f"unknown reason code(s) {', '.join(unknown)}; expected some of "
                             f"{', '.join(DEFAULT_ERROR_CODES)}")
        bad = {k: v for k, v in codes.items() if not 0 <= v <= 32767}
        if bad:
            raise ValueError(f"error numbers must be 0..32767, got {bad}")
        return DEFAULT_ERROR_CODES | codes  # a map lists only what it renumbers

    def signals(self) -> dict[str, str]:
        """Every configured signal as 'outputs.name' / 'inputs.name' → address."""
        found = {f"outputs.{k}": v for k, v in self.outputs.model_dump().items() if v is not None}
        found |= {f"inputs.{k}": v for k, v in self.inputs.model_dump().items() if v is not None}
        return found


_BOOL = {"reject", "result_valid", "ready", "running", "fault", "busy", "trigger_ack", "job_ack",
         "trigger", "result_ack", "job_change", "reset_alarm"}
_TEXT = {"lot_name"}


def signal_kind(name: str) -> SignalKind:
    """'outputs.reject' → BOOL. part_id may be INT or TEXT: the address decides (INT here)."""
    short = name.rsplit(".", 1)[-1]
    if short in _BOOL:
        return SignalKind.BOOL
    if short in _TEXT:
        return SignalKind.TEXT
    return SignalKind.INT


def load_signal_map(path: Path) -> SignalMap:
    """Read a signal-map YAML; errors name the file and the key."""
    return validate_model(SignalMap, read_yaml(path), str(path))


def default_map(kind: str) -> SignalMap:
    """The protocol's default map: its adapter's `SIGNAL_MAP` hook (plugins), else outputs/maps/<kind>.yaml."""
    from inspection.adapters.entry_points import find_hook

    hooked = find_hook("output", kind, "SIGNAL_MAP")
    path = Path(hooked) if hooked is not None else MAPS_DIR / f"{kind}.yaml"
    if not path.exists():
        raise ConfigError(f"no bundled signal map for {kind!r}; set signal_map: or signals: in the output section")
    return load_signal_map(path)


# --- what a verdict becomes on the wire --------------------------------------------------------

Outcome = Literal["passed", "fail", "error", "not_inspected", "review"]

_STATUS_OUTCOME: dict[VerdictStatus, Outcome] = {
    VerdictStatus.PASS: "passed", VerdictStatus.FAIL: "fail", VerdictStatus.ERROR: "error",
    VerdictStatus.REVIEW: "review",
}


def result_code(smap: SignalMap, inspection: Inspection | None, late: bool = False) -> int:
    """The result code for a verdict; a late verdict or a missing one is never a pass."""
    if inspection is None:
        return smap.result_codes.not_inspected
    if late:
        return smap.result_codes.error
    return smap.result_codes.for_status(inspection.verdict.status)


def error_code(smap: SignalMap, inspection: Inspection | None, late: bool = False) -> int:
    codes = smap.error_codes
    if inspection is None:
        return codes[ReasonCode.NOT_INSPECTED]
    if late:
        return codes[ReasonCode.LATE]
    verdict = inspection.verdict
    if verdict.status is VerdictStatus.PASS or not verdict.failsafe:
        return codes[ReasonCode.NONE]
    for reason in verdict.reasons:
        if reason.code in codes:
            return codes[reason.code]
    return codes[ReasonCode.OTHER]


def defect_bits(smap: SignalMap, inspection: Inspection | None, width: int = 16) -> int:
    """Bit per defect class found; classes outside the map set the top bit ('other')."""
    if inspection is None:
        return 0
    bits = 0
    for defect in inspection.defects:
        if smap.defect_classes:
            index = smap.defect_classes.index(defect.class_name) if defect.class_name in smap.defect_classes else -1
        else:
            index = defect.class_id
        bits |= 1 << (index if 0 <= index < width - 1 else width - 1)
    return bits
