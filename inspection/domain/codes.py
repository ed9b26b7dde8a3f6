"""One vocabulary for why a part was not passed and what went wrong: `ReasonCode` and `AlarmKind`.

Both are string enums (a member *is* its wire string, so rows, JSON and PLC maps keep their values),
each member carrying a human title and, for reasons, the default PLC error number written to
`outputs.error_code`. Signal maps are validated against `ReasonCode`; the console takes alarm titles
from `AlarmKind`. Nothing downstream parses a message to learn what happened.

`AlarmBoard` folds alarm floods: one active alarm per (kind, source) with a count and first/last time,
cleared when its cause clears.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ActiveAlarm", "AlarmBoard", "AlarmKind", "ReasonCode", "alarm_title", "default_error_codes"]


class ReasonCode(StrEnum):
    """Why a verdict is what it is. `plc_error` is the default number for `outputs.error_code`."""

    title: str
    plc_error: int

    def __new__(cls, value: str, title: str, plc_error: int) -> ReasonCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.title = title
        member.plc_error = plc_error
        return member

    # Wire codes, not verdict reasons: what the PLC sees when there is nothing (more) to say.
    NONE = "none", "no error", 0
    OTHER = "other", "other error", 1
    # Judged parts (error code "none": the part was inspected).
    DEFECT = "defect", "defect found", 0
    REVIEW = "review", "needs a person's decision", 0
    # Parts that could not be inspected: fail-safe verdicts.
    DEADLINE = "deadline", "not judged within the deadline", 2
    LATE = "late", "verdict after the part's gate", 3
    NOT_INSPECTED = "not_inspected", "no verdict before the gate", 4
    INSPECTION_ERROR = "inspection_error", "model or judge failed", 5
    FRAME_FAILURE = "frame_failure", "no usable image", 6
    JOB_CHANGE_FAILED = "job_change_failed", "job change refused", 7
    CAMERA_LOST = "camera_lost", "camera lost", 8
    CAMERA_ERROR = "camera_error", "camera failed", 9
    BAD_BUFFER = "bad_buffer", "camera buffer unreadable", 10
    INCOMPLETE_BUFFER = "incomplete_buffer", "camera buffer incomplete", 11
    DECODE_ERROR = "decode_error", "image corrupt or unreadable", 12
    IMAGE_TRUNCATED = "image_truncated", "image file truncated", 13
    IMAGE_TOO_LARGE = "image_too_large", "image over the size limits", 14
    IMAGE_DEPTH = "image_depth", "image not 8 bits per channel", 15
    IMAGE_CHANNELS = "image_channels", "image channel count unsupported", 16
    QUEUE_FULL = "queue_full", "station busy: part arrived while the queue was full", 17
    STOPPED = "stopped", "station stopped before the part was inspected", 18
    STAGE_FAILED = "stage_failed", "a station stage failed on this part", 19
    RECORDED_FAILURE = "recorded_failure", "recorded without an image", 20

    @classmethod
    def parse(cls, code: str) -> ReasonCode | None:
        try:
            return cls(code)
        except ValueError:
            return None


def default_error_codes() -> dict[str, int]:
    """Reason code → PLC error number, as the bundled signal maps use them."""
    return {code.value: code.plc_error for code in ReasonCode}


class AlarmKind(StrEnum):
    """What an alarm is about. The value is the stable key logged in `events.kind`."""

    title: str

    def __new__(cls, value: str, title: str) -> AlarmKind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.title = title
        return member

    CAMERA_ERROR = "camera_error", "Camera lost"
    CAMERA_LOST = "camera_lost", "Camera lost (reconnecting)"
    OUTPUT_ERROR = "output_error", "PLC / reject output lost"
    PLC_CONNECTION_LOST = "plc_connection_lost", "PLC connection lost"
    PLC_WRITE_ERROR = "plc_write_error", "PLC refused a write"
    PLC_HEARTBEAT_LOST = "plc_heartbeat_lost", "PLC heartbeat stopped"
    PLC_SUPERVISOR_ERROR = "plc_supervisor_error", "PLC inputs not handled (supervisor failed)"
    PLC_TRIGGER_OVERFLOW = "plc_trigger_overflow", "Too many PLC triggers without a frame"
    JOB_CHANGE_FAILED = "job_change_failed", "Job change refused"
    DATABASE = "database", "Verdict database not writable"
    DB_UNAVAILABLE = "db_unavailable", "Verdict database unavailable: verdicts spooled"
    DB_FILE_LOST = "db_file_lost", "Verdict database file deleted or replaced: restored"
    SPOOL_FULL = "spool_full", "Verdict spool full: line stopped"
    RECORD_BACKLOG = "record_backlog", "Verdict log falling behind"
    ARCHIVE_WRITE_FAILED = "archive_write_failed", "Image archive not writable"
    DISK_LOW = "disk_low", "Disk almost full"
    SAMPLES_WRITE_FAILED = "samples_write_failed", "Review samples not writable"
    STAGE_FAILED = "stage_failed", "Station stage failed"
    SAFE_STOP = "safe_stop", "Station stopped safely"
    UNCLEAN_SHUTDOWN = "unclean_shutdown", "Last session was killed: verdicts may be missing"
    MODEL = "model", "Model missing or not loadable"
    CONFIG = "config", "Configuration error"
    FAILSAFE = "failsafe", "Fail-safe verdicts (parts not inspected)"
    CONTROLLER_PROPOSAL = "controller_proposal", "Controller proposal waiting"
    STATION = "station", "Station error"


def alarm_title(kind: str) -> str:
    """The title of a known kind; an adapter's own kind (a telemetry sink's, say) is shown humanised."""
    try:
        return AlarmKind(kind).title
    except ValueError:
        return kind.replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    kind: str
    source: str
    message: str  # the latest
    count: int
    first_s: float
    last_s: float


class AlarmBoard:
    """One active alarm per (kind, source): repeats only count. Thread-safe.

    `raise_alarm` returns True when the alarm is new (the caller logs and notifies once); `clear` returns the
    folded alarm when one was active (the caller logs that it cleared, with the count)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str], ActiveAlarm] = {}

    def raise_alarm(self, kind: str, message: str, source: str = "") -> bool:
        now = self._clock()
        with self._lock:
            old = self._active.get((kind, source))
            if old is None:
                self._active[(kind, source)] = ActiveAlarm(kind, source, message, 1, now, now)
                return True
            self._active[(kind, source)] = ActiveAlarm(kind, source, message, old.count + 1, old.first_s, now)
            return False

    def clear(self, kind: str, source: str = "") -> ActiveAlarm | None:
        with self._lock:
            return self._active.pop((kind, source), None)

    def is_active(self, kind: str, source: str = "") -> bool:
        with self._lock:
            return (kind, source) in self._active

    def active(self) -> list[ActiveAlarm]:
        with self._lock:
            return sorted(self._active.values(), key=lambda a: a.first_s)
