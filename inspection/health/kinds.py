"""Health vocabulary: what kind of trouble a signal points at, how bad it is, and one warning.

`HealthKind` is a small closed enum so it can later be folded into the core's alarm codes (each member
carries its title, likely cause and the action that fixes it); nothing downstream parses a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["HealthKind", "HealthWarning", "Severity"]


class Severity(StrEnum):
    WARNING = "warning"  # a drift was detected: the signal is moving towards its limit
    ALARM = "alarm"  # the signal is past its limit: inspection quality is no longer assured


class HealthKind(StrEnum):
    """What a drifting signal most likely means. Value = stable code (MQTT/OPC UA/store)."""

    FOCUS = "health_focus"
    LIGHT = "health_light"
    EXPOSURE = "health_exposure"
    REGISTRATION = "health_registration"
    APPEARANCE = "health_appearance"
    MODEL_CONFIDENCE = "health_model_confidence"
    REVIEW_RATE = "health_review_rate"
    ACQUISITION = "health_acquisition"
    CAMERA_TEMPERATURE = "health_camera_temperature"
    LINE_IO = "health_line_io"
    TELEMETRY = "health_telemetry"
    STATION = "health_station"

    @property
    def title(self) -> str:
        return _TEXT[self][0]

    @property
    def cause(self) -> str:
        return _TEXT[self][1]

    @property
    def action(self) -> str:
        return _TEXT[self][2]


_TEXT: dict[HealthKind, tuple[str, str, str]] = {
    HealthKind.FOCUS: ("focus", "the lens is losing focus (dirt, vibration, a loose focus ring)",
                       "clean the lens and refocus; then re-baseline"),
    HealthKind.LIGHT: ("illumination", "the light is getting dimmer (ageing LEDs, a dirty diffuser, a failing driver)",
                       "check and clean the light, replace ageing LEDs; re-baseline after a change"),
    HealthKind.EXPOSURE: ("exposure", "the image is getting brighter or clipping (exposure/gain changed, stray light)",
                          "check exposure and gain settings and shield stray light"),
    HealthKind.REGISTRATION: ("registration", "the part is drifting in the field of view (camera mount, fixture, "
                              "conveyor guide)", "re-align the camera or fixture; check the mount is tight"),
    HealthKind.APPEARANCE: ("appearance", "the parts look different (new material, supplier, colour or surface)",
                            "confirm the material change; collect and label samples and retrain, then re-baseline"),
    HealthKind.MODEL_CONFIDENCE: ("model confidence", "the model's confidences no longer match its reference "
                                  "(data drift)", "review recent parts; retrain on current parts"),
    HealthKind.REVIEW_RATE: ("review rate", "more parts go to review / unknown defects than at the baseline",
                             "review the queue: a new defect type or a process change; retrain if needed"),
    HealthKind.ACQUISITION: ("acquisition", "frames are dropped or arrive irregularly (cable, bandwidth, trigger)",
                             "check the camera cable, network bandwidth and trigger wiring"),
    HealthKind.CAMERA_TEMPERATURE: ("camera temperature", "the camera is running hot (ventilation, ambient)",
                                    "check the camera's cooling and the cabinet ventilation"),
    HealthKind.LINE_IO: ("line I/O", "the reject output is slow or reconnecting (PLC load, network)",
                         "check the PLC connection and network load"),
    HealthKind.TELEMETRY: ("telemetry", "telemetry messages pile up unsent (MQTT broker away or slow, network)",
                           "check the MQTT broker and the network to it; when the buffer is full the oldest "
                           "messages are dropped"),
    HealthKind.STATION: ("station", "the station PC is short of CPU, queue space or disk",
                         "free disk space, close other programs, check the image archive policy"),
}


@dataclass(frozen=True, slots=True)
class HealthWarning:
    """One warning or alarm about one signal, with what it most likely means and what to do."""

    kind: HealthKind
    severity: Severity
    signal: str
    part: int  # index of the part (in monitor order) that raised it
    value: float  # the signal's smoothed value then, in its own unit
    baseline: float
    limit: float
    parts_to_limit: float | None  # forecast at this trend; None = no trend towards the limit
    timestamp_s: float = 0.0

    @property
    def cause(self) -> str:
        return self.kind.cause

    @property
    def action(self) -> str:
        return self.kind.action

    @property
    def message(self) -> str:
        head = (f"{self.kind.title}: {self.signal} {self.value:.4g} "
                f"(baseline {self.baseline:.4g}, limit {self.limit:.4g})")
        if self.severity is Severity.ALARM:
            when = "past its limit"
        elif self.parts_to_limit is None:
            when = "drifting"
        else:
            when = f"reaches its limit in about {self.parts_to_limit:.0f} parts at this trend"
        return f"{head} {when}. Likely cause: {self.cause}. Action: {self.action}."

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "severity": self.severity.value, "signal": self.signal, "part": self.part,
                "value": self.value, "baseline": self.baseline, "limit": self.limit,
                "parts_to_limit": self.parts_to_limit, "timestamp_s": self.timestamp_s,
                "cause": self.cause, "action": self.action, "message": self.message}
