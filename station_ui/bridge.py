"""The thin bridge from the pipeline (worker threads) to the console (the Qt GUI thread).

`PipelineBridge.on_inspection` is appended to `Station.listeners`; it runs on the pipeline's thread, so
it only updates counters and a few references under a lock and, at most once until the GUI caught up,
posts a queued wake-up. The GUI thread then emits the public signals with the *latest* state only: a
fast line never floods the event queue, never blocks the pipeline, and frames are shown at display rate.

Errors the core logs (camera lost, output lost, database not writable, model failure) reach the
console as alarms through `AlarmLogHandler`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal

from inspection.domain.codes import AlarmKind
from inspection.domain.types import Inspection
from inspection.records.spc import LiveCounters

__all__ = ["ALARM_TITLES", "AlarmLogHandler", "PipelineBridge", "alarm_kind_for"]

ALARM_TITLES = {kind.value: kind.title for kind in AlarmKind}  # the core's vocabulary (inspection.domain.codes)


def alarm_kind_for(message: str, default: str = "station") -> str:
    """Classify a core error message (used for log records and exceptions)."""
    lowered = message.lower()
    if match := re.match(r"^([a-z]+_[a-z_]+): ", message):  # the core's "kind: message" alarms
        return match.group(1)
    if "database" in lowered or "cannot log" in lowered or "locked" in lowered:
        return "database"
    if "model" in lowered:
        return "model"
    if "camera" in lowered:
        return "camera_error"
    return default


class PipelineBridge(QObject):
    """View-model of the running station. Create it in the GUI thread."""

    frameReady = pyqtSignal(object)  # Inspection: the latest part of one camera
    countersChanged = pyqtSignal(dict)  # LiveCounters.snapshot()
    failuresChanged = pyqtSignal(list)  # latest rejected Inspections, newest first
    alarmRaised = pyqtSignal(str, str)  # kind, message
    stateChanged = pyqtSignal(str, str)  # state, detail
    _wake = pyqtSignal()

    def __init__(self, max_failures: int = 12, display_hz: float = 30.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.counters = LiveCounters()
        self._lock = threading.Lock()
        self._latest: dict[str, Inspection] = {}
        self._failures: deque[Inspection] = deque(maxlen=max_failures)
        self._failures_dirty = False
        self._alarms: deque[tuple[str, str]] = deque(maxlen=64)
        self._states: deque[tuple[str, str]] = deque(maxlen=64)
        self._pending = False
        self._min_interval_s = 1.0 / display_hz
        self._last_flush = 0.0
        self.received = 0  # parts handed to the bridge
        self.shown = 0  # frames emitted to the display
        self.wakeups = 0  # queued wake-ups posted to the GUI thread
        self.flushes = 0  # wake-ups the GUI thread has handled
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._wake.connect(self._flush, Qt.ConnectionType.QueuedConnection)

    # --- called from any thread ------------------------------------------------------------------

    def on_inspection(self, inspection: Inspection) -> None:
        """Station listener: cheap, never blocks on the GUI."""
        with self._lock:  # counters, latest frame and failure strip change together: the console shows one moment
            self.counters.add(inspection)
            self.received += 1
            self._latest[inspection.frame.camera_id] = inspection
            if inspection.verdict.status.rejects:
                self._failures.appendleft(inspection)
                self._failures_dirty = True
            if inspection.verdict.failsafe:
                reason = inspection.verdict.reasons[0]
                self._alarms.append(("failsafe", f"part {inspection.frame.key}: {reason.code}: {reason.message}"))
        self._poke()

    def raise_alarm(self, kind: str, message: str) -> None:
        with self._lock:
            self._alarms.append((kind, message))
        self._poke()

    def set_state(self, state: str, detail: str = "") -> None:
        with self._lock:
            self._states.append((state, detail))
        self._poke()

    def _poke(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
            self.wakeups += 1
        self._wake.emit()

    # --- GUI thread ------------------------------------------------------------------------------

    def _flush(self) -> None:
        wait_s = self._last_flush + self._min_interval_s - time.monotonic()
        if wait_s > 0:  # display rate: come back when the next frame is due
            if not self._timer.isActive():
                self._timer.start(max(1, int(wait_s * 1000)))
            return
        with self._lock:
            latest, self._latest = self._latest, {}
            failures = list(self._failures) if self._failures_dirty else None
            self._failures_dirty = False
            counters = self.counters.snapshot() if latest else None
            alarms, states = list(self._alarms), list(self._states)
            self._alarms.clear()
            self._states.clear()
            self._pending = False
            self.flushes += 1
        self._last_flush = time.monotonic()
        for state, detail in states:
            self.stateChanged.emit(state, detail)
        for kind, message in alarms:
            self.alarmRaised.emit(kind, message)
        for inspection in latest.values():
            self.shown += 1
            self.frameReady.emit(inspection)
        if counters is not None:
            self.countersChanged.emit(counters)
        if failures is not None:
            self.failuresChanged.emit(failures)

    def refresh_counters(self) -> None:
        """Re-emit the counters (parts/min decays while the line stands still). Not while parts wait for the
        next flush: that flush shows them with their counters, and counters from now would run ahead of the
        frame on screen."""
        with self._lock:
            counters = None if self._latest else self.counters.snapshot()
        if counters is not None:
            self.countersChanged.emit(counters)

    def reset(self) -> None:
        with self._lock:
            self.counters.reset()
            self._failures.clear()
            self._failures_dirty = True
        self._poke()


class AlarmLogHandler(logging.Handler):
    """Forwards ERROR records of the core's loggers to the bridge as alarms (any thread)."""

    def __init__(self, bridge: PipelineBridge) -> None:
        super().__init__(level=logging.ERROR)
        self.bridge = bridge

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message = f"{message}: {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            # The core tags its alarms with their AlarmKind (`extra={"alarm_kind": …}`); only untagged errors
            # (a library's own log line) are classified from their text.
            kind = getattr(record, "alarm_kind", None) or alarm_kind_for(message)
            self.bridge.raise_alarm(str(kind), message)
        except Exception:  # a logging handler must never raise into the pipeline
            self.handleError(record)
