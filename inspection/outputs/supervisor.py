"""`PlcOutput`: the reject output every PLC protocol shares, on top of a protocol `PlcLink`.

- `publish(inspection)` writes one result straight away on the caller's thread, each request bounded by
  `timeout_s`; it never waits for a reconnect. A verdict that cannot be written is kept (in memory and
  in the log, through the OutputError the pipeline records as an alarm) and counted: never lost.
- A supervisor thread writes the heartbeat and status bits, polls the PLC inputs (trigger, result ack,
  job change, reset, PLC heartbeat), reports triggered parts that missed their gate, and on a lost
  connection raises an alarm and reconnects with exponential backoff. When the link comes back the
  station resumes without a restart.
- Fail-safe: whenever the station cannot vouch for parts it shows reject=1, fault=1, ready=0 where it
  still can; when it cannot write at all the PLC sees the station heartbeat stop (see docs/plc.md for
  the PLC-side watchdog).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, model_validator

from inspection.config import AdapterOptions, ConfigPath
from inspection.domain.rolling import RollingStats
from inspection.domain.types import Inspection
from inspection.errors import OutputError
from inspection.outputs.handshake import Edges, Handshake
from inspection.outputs.link import LinkError, PlcLink, Value
from inspection.outputs.signal_map import SignalMap, default_map, load_signal_map
from inspection.outputs.tracking import PartTracker, TrackingOptions

__all__ = ["AlarmListener", "PlcOptions", "PlcOutput", "PlcStats", "Undelivered"]

log = logging.getLogger(__name__)

AlarmListener = Callable[[str, str, bool], None]
"""(kind, message, active): called when an alarm is raised (active=True) or cleared."""
JobListener = Callable[[int, str | None], None]
"""(job number, lot name): switch the recipe; raise to refuse the job change."""


class PlcOptions(AdapterOptions):
    """Options every PLC adapter shares. Protocol adapters add their own and parse addresses."""

    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(ge=1, le=65535)
    timeout_s: float = Field(0.5, gt=0.0, le=30.0, description="each read/write request")
    connect_timeout_s: float = Field(2.0, gt=0.0, le=60.0)
    heartbeat_period_s: float = Field(0.5, gt=0.0, le=60.0, description="station heartbeat + status bits")
    poll_period_s: float = Field(0.02, gt=0.0, le=10.0, description="PLC inputs poll (trigger, ack, job)")
    plc_watchdog_s: float = Field(0.0, ge=0.0, description="alarm when inputs.heartbeat stays still this long; 0 = off")
    reconnect_backoff_s: float = Field(0.2, gt=0.0, description="first reconnect delay; doubles per failure")
    reconnect_backoff_max_s: float = Field(5.0, gt=0.0)
    latch_alarms: bool = Field(False, description="keep fault=1 until the PLC pulses inputs.reset_alarm")
    signal_map: ConfigPath | None = Field(None, description="signal-map YAML; default: the bundled map")
    signals: SignalMap | None = Field(None, description="the signal map inline instead of a file")
    tracking: TrackingOptions = TrackingOptions()
    backlog_size: int = Field(10000, ge=1, description="undelivered verdicts kept in memory")

    protocol: ClassVar[str] = "plc"
    _map: SignalMap | None = PrivateAttr(None)

    @classmethod
    def parse_address(cls, name: str, address: str) -> Any:
        """Protocol adapters check their address notation here; raise ValueError naming the fix."""
        return address

    @model_validator(mode="after")
    def _check_signal_map(self) -> PlcOptions:
        if self.signals is not None and self.signal_map is not None:
            raise ValueError("set either signal_map (a file) or signals (inline), not both")
        smap = self.signals or (load_signal_map(Path(self.signal_map)) if self.signal_map else default_map(self.kind))
        where = str(self.signal_map) if self.signal_map else "signals"
        for name, address in smap.signals().items():
            try:
                type(self).parse_address(name, address)
            except ValueError as exc:
                raise ValueError(f"{where}: {name}: {exc}") from None
        if self.tracking.mode == "positions" and smap.inputs.trigger is None:
            raise ValueError("tracking.mode positions counts PLC part-present edges: map inputs.trigger")
        self._map = smap
        return self

    def resolved_map(self) -> SignalMap:
        assert self._map is not None
        return self._map


_WRITE_WINDOW = 500  # result writes the health probe's p99 is taken over


class _LinkBusy(LinkError):
    """Another request held the link for longer than timeout_s."""


@dataclass(frozen=True, slots=True)
class Undelivered:
    """A verdict the PLC never got (connection down, write refused)."""

    t_s: float
    part_id: str
    status: str
    reason: str


@dataclass
class PlcStats:
    delivered: int = 0
    undelivered: int = 0
    not_inspected: int = 0
    late: int = 0
    unacked: int = 0
    reconnects: int = 0
    heartbeat: int = 0
    job_number: int | None = None
    lot_name: str | None = None
    alarms: dict[str, str] = field(default_factory=dict)


class PlcOutput:
    """RejectOutput over any `PlcLink`. Use as a context manager or open()/close()."""

    def __init__(self, options: PlcOptions, link: PlcLink, alarm: Callable[[str, str], None] | None = None,
                 job_change: JobListener | None = None) -> None:
        """`alarm(kind, message)` (e.g. the station's event log) hears every alarm raised; `job_change` is
        called for a PLC job change. Both are optional `create(options, **context)` keywords."""
        self.options = options
        self.link = link
        self.smap = options.resolved_map()
        self.handshake = Handshake(self.smap)
        self.tracker = PartTracker(options.tracking)
        self.stats = PlcStats()
        self.backlog: deque[Undelivered] = deque(maxlen=options.backlog_size)
        self.alarm_listeners: list[AlarmListener] = []
        self.job_listeners: list[JobListener] = []
        self.connected = False
        self.last_error = "not opened yet"
        self._io = threading.Lock()  # one request at a time on the link
        self._results = threading.Lock()  # results reach the PLC in sequence order (pipeline + supervisor)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latched: set[str] = set()
        self._unsent: dict[str, Value] = {}  # handshake answers not written yet (link busy or lost): retried
        self._plc_heartbeat_t = time.monotonic()
        # Health probe: result write times (ms) of the last parts and when the link came back (monotonic s).
        self._write_ms = RollingStats(_WRITE_WINDOW)
        self._reconnected_at: deque[float] = deque(maxlen=1000)
        if alarm is not None:
            self.alarm_listeners.append(lambda kind, message, active: alarm(kind, message) if active else None)
        if job_change is not None:
            self.job_listeners.append(job_change)

    # --- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect once (a failure does not raise: the station runs in fail-safe and keeps trying)."""
        self._stop.clear()
        self._try_connect()
        self._thread = threading.Thread(target=self._supervise, name=f"plc-{self.options.kind}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.timeout_s * 4 + self.options.connect_timeout_s + 1.0)
            self._thread = None
        if self.connected:
            try:  # tell the PLC we are going, so it does not wait for our heartbeat to time out
                if "safe_stop" in self.stats.alarms:  # a safe stop leaves the outputs in their fail-safe state
                    self._write_failsafe()
                self._write(self.handshake.status(ready=False, running=False, fault=bool(self.stats.alarms)))
            except LinkError as exc:
                log.warning("could not clear the ready bit on close: %s", exc)
        self.connected = False
        self.link.close()

    def __enter__(self) -> PlcOutput:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health_signals(self) -> dict[str, float]:
        """Health probe (inspection.health.probe): the p99 of the last result writes and the reconnects in
        the last hour. Read-only and cheap; called from the health listener's thread."""
        out = {"plc_reconnects": float(sum(1 for t in self._reconnected_at.copy()
                                             if t > time.monotonic() - 3600.0))}
        if len(self._write_ms):
            out["output_p99_ms"] = self._write_ms.percentiles((99,), method="higher")["p99"]
        return out

    @property
    def fault(self) -> bool:
        return bool(self.stats.alarms)

    def safe_stop(self, message: str) -> None:
        """The station stopped safely: reject, fault on, ready off now, and in every status write until
        closed (the alarm is latched: a heartbeat must not show ready again)."""
        self._latched.add("safe_stop")
        self._alarm("safe_stop", message)
        if self.connected:
            self._write_failsafe()

    # --- the latency-critical path ---------------------------------------------------------------

    def publish(self, inspection: Inspection) -> None:
        """Write the verdict for one part; OutputError (naming part, signal and address) if the PLC did
        not get it. Bounded by timeout_s; never waits for a reconnect."""
        tracked = self.tracker.resolve(inspection, time.time())
        for part in tracked.stale:
            self._not_inspected(part.part_id, "its frame never came (a trigger the camera did not see)")
        if self.tracker.pending < self.tracker.options.max_pending // 2:
            self._clear("plc_trigger_overflow")
        if tracked.late:
            self.stats.late += 1
            log.warning("part %s: verdict after its gate deadline; reported as fail-safe reject", tracked.part_id)
        with self._results:
            status = inspection.verdict.status.value
            try:
                items = self.handshake.result(inspection, tracked.part_id, tracked.late)
            except Exception as exc:  # a value the signal map cannot carry: fail-safe and counted, never a gap
                self._hold(tracked.part_id, status, "result not encodable")
                self._on_link_error(LinkError(f"part {tracked.part_id!r}: the result cannot be written to the "
                                              f"signal map ({type(exc).__name__}: {exc})"))
                raise OutputError(f"verdict {status} for part {tracked.part_id!r} not delivered: {exc}") from None
            self._deliver(items, tracked.part_id, status, "late" if tracked.late else inspection.verdict.summary)

    def _deliver(self, items: list[tuple[str, Value]], part_id: str, status: str, reason: str) -> None:
        self.stats.unacked = self.handshake.unacked
        if not self.connected:
            self._hold(part_id, status, reason)
            raise OutputError(
                f"{self.link.endpoint} not connected ({self.last_error}); verdict {status} for part {part_id} "
                f"not delivered ({self.stats.undelivered} so far): kept in the log, the PLC must treat the part "
                f"as reject")
        started = time.perf_counter()
        try:
            self._write(items)
        except LinkError as exc:
            self._took(started)  # a failed write counts too: one that ran into its timeout is the slow tail
            self._hold(part_id, status, reason)
            if not isinstance(exc, _LinkBusy):  # busy: the supervisor's own request will tell what is wrong
                self._on_link_error(exc)
            raise OutputError(f"{exc}; verdict {status} for part {part_id} not delivered") from None
        self._took(started)
        self.stats.delivered += 1
        if "plc_write_error" in self.stats.alarms:
            self._clear("plc_write_error")

    def _took(self, started: float) -> None:
        self._write_ms.add((time.perf_counter() - started) * 1000.0)

    def _hold(self, part_id: str, status: str, reason: str) -> None:
        self.stats.undelivered += 1
        self.backlog.append(Undelivered(time.time(), part_id, status, reason))

    def _write(self, items: list[tuple[str, Value]]) -> None:
        if not items:
            return
        if not self._io.acquire(timeout=self.options.timeout_s):
            raise _LinkBusy(f"{self.link.endpoint}: link busy for more than {self.options.timeout_s} s")
        try:
            self.link.write(items)
        finally:
            self._io.release()

    def _read(self, names: list[str]) -> dict[str, Value]:
        if not self._io.acquire(timeout=self.options.timeout_s):
            raise _LinkBusy(f"{self.link.endpoint}: link busy for more than {self.options.timeout_s} s")
        try:
            return self.link.read(names)
        finally:
            self._io.release()

    # --- alarms ----------------------------------------------------------------------------------

    def _alarm(self, kind: str, message: str) -> None:
        if self.stats.alarms.get(kind) == message:
            return
        new = kind not in self.stats.alarms
        self.stats.alarms[kind] = message
        if self.options.latch_alarms:
            self._latched.add(kind)
        if new:
            log.error("PLC alarm %s: %s", kind, message)
            self._notify(kind, message, True)

    def _clear(self, kind: str) -> None:
        if kind in self.stats.alarms and kind not in self._latched:
            message = self.stats.alarms.pop(kind)
            log.warning("PLC alarm %s cleared", kind)
            self._notify(kind, message, False)

    def _notify(self, kind: str, message: str, active: bool) -> None:
        for listener in self.alarm_listeners:
            try:
                listener(kind, message, active)
            except Exception:
                log.exception("alarm listener failed")

    def _on_link_error(self, exc: LinkError) -> None:
        self.last_error = str(exc)
        if exc.connection_lost:
            if self.connected:
                self._alarm("plc_connection_lost", str(exc))
            self.connected = False
            self._io_close()
            return
        self._alarm("plc_write_error", str(exc))
        self._write_failsafe()

    def _write_failsafe(self) -> None:
        """Best effort, one signal at a time: the signal that failed must not stop the others."""
        for item in self.handshake.failsafe():
            try:
                self._write([item])
            except LinkError as exc:
                if exc.connection_lost:
                    self.connected = False
                    return

    def _io_close(self) -> None:
        with self._io:
            self.link.close()

    # --- supervisor thread -----------------------------------------------------------------------

    def _try_connect(self) -> bool:
        try:
            with self._io:
                self.link.connect()
                self.link.check()
        except LinkError as exc:
            self._io_close()
            self.last_error = str(exc)
            self._alarm("plc_connection_lost", str(exc))
            return False
        was_lost = "plc_connection_lost" in self.stats.alarms
        self.last_error = ""
        self._plc_heartbeat_t = time.monotonic()
        if was_lost:
            self.stats.reconnects += 1
            self._reconnected_at.append(time.monotonic())
        # Holding the results lock: a verdict published the moment `connected` turns true must land after
        # this clean-slate write, or its result_valid would be cleared before the PLC saw it.
        with self._results:
            self._clear("plc_connection_lost")  # before `connected` and the write: its status shows ready
            self.connected = True
            try:
                self._write(self.handshake.keep([("outputs.result_valid", False)]) + self._status_items()
                            + list(self._unsent.items()))
                self._unsent.clear()
            except LinkError as exc:
                self._on_link_error(exc)
                return self.connected
        if was_lost:
            log.warning("%s: connection resumed; %d verdicts were not delivered while it was away (logged)",
                        self.link.endpoint, self.stats.undelivered)
        return True

    def _status_items(self) -> list[tuple[str, Value]]:
        fault = self.fault
        items = self.handshake.status(ready=self.connected and not fault, running=True, fault=fault)
        return items + self.handshake.keep([
            ("outputs.heartbeat", self.stats.heartbeat & 0x7FFF),
            ("outputs.job_number", self.stats.job_number or 0),  # also keeps the Modbus status one request
            ("outputs.late_count", self.stats.late & 0x7FFF),
            ("outputs.undelivered_count", self.stats.undelivered & 0x7FFF),
        ])

    def _supervise(self) -> None:
        o = self.options
        backoff, next_try = o.reconnect_backoff_s, time.monotonic() + o.reconnect_backoff_s
        next_beat = 0.0
        inputs = self.handshake.inputs()
        while not self._stop.wait(o.poll_period_s if inputs else min(o.poll_period_s * 5, o.heartbeat_period_s)):
            now = time.monotonic()
            if not self.connected:
                if now >= next_try:
                    if self._try_connect():
                        backoff = o.reconnect_backoff_s
                    else:
                        backoff = min(backoff * 2.0, o.reconnect_backoff_max_s)
                    next_try = time.monotonic() + backoff
                continue
            try:
                if self._unsent:
                    self._write(list(self._unsent.items()))
                    self._unsent.clear()
                if now >= next_beat:
                    self.stats.heartbeat += 1
                    self._write(self._status_items())
                    next_beat = now + o.heartbeat_period_s
                if inputs:
                    answers = self._handle(self.handshake.edges(self._read(inputs)))
                    self._unsent.update(answers)  # kept until written: the PLC waits for these acks
                    if answers:
                        self._write(answers)
                        self._unsent.clear()
                for part in self.tracker.expired(time.time()):
                    self._not_inspected(part.part_id, "no verdict before the gate")
            except _LinkBusy:
                continue  # publish had the link; try again next cycle
            except LinkError as exc:
                self._on_link_error(exc)
            except OutputError as exc:  # a not-inspected result that could not be written: already counted
                log.error("%s", exc)
            except BaseException as exc:  # any type: the supervisor (heartbeat, fail-safe) must outlive any bug
                if "plc_supervisor_error" not in self.stats.alarms:  # the traceback once, not at the poll rate
                    log.exception("PLC supervisor error")
                self._alarm("plc_supervisor_error", f"{self.link.endpoint}: the PLC supervisor failed "
                            f"({type(exc).__name__}: {exc}); the PLC's inputs (trigger, acknowledge, job change, "
                            "reset, heartbeat) are not being handled: check the PLC's answers, then call the "
                            "integrator with the station log")
            else:
                self._clear("plc_supervisor_error")

    def _not_inspected(self, part_id: str, why: str) -> None:
        """A part the PLC triggered that will get no verdict: reported as not inspected (a reject), counted."""
        self.stats.not_inspected += 1
        log.warning("part %s: %s; reported as not inspected", part_id, why)
        try:
            with self._results:
                self._deliver(self.handshake.result(None, part_id), part_id, "NOT_INSPECTED", why)
        except OutputError as exc:  # counted undelivered by _deliver; the caller's own work goes on
            log.error("%s", exc)

    def _handle(self, edges: Edges) -> list[tuple[str, Value]]:
        """React to PLC edges; returns the handshake answers to write (in order)."""
        o = self.options
        answers: list[tuple[str, Value]] = []
        if edges.plc_heartbeat_changed:
            self._plc_heartbeat_t = time.monotonic()
            self._clear("plc_heartbeat_lost")
        elif (o.plc_watchdog_s > 0 and time.monotonic() - self._plc_heartbeat_t > o.plc_watchdog_s
              and "plc_heartbeat_lost" not in self.stats.alarms):
            self._alarm("plc_heartbeat_lost", f"{self.link.endpoint}: inputs.heartbeat did not change for "
                                              f"{o.plc_watchdog_s} s; is the PLC program running?")
            self._write_failsafe()
        if edges.trigger:
            pushed_out = self.tracker.on_trigger(edges.part_id, time.time())
            if pushed_out is not None:
                self._alarm("plc_trigger_overflow", f"{self.tracker.options.max_pending} triggered parts wait "
                            "for a verdict: the oldest are reported not inspected; is the camera getting the "
                            "triggers?")
                self._not_inspected(pushed_out.part_id, "too many triggered parts waiting")
            answers += self.handshake.on_trigger()
        if edges.trigger_released:
            answers += self.handshake.on_trigger_released()
        if edges.result_ack:
            answers += self.handshake.on_result_ack()
        if edges.job_change and edges.job_number is not None:
            answers += self._change_job(edges.job_number, edges.lot_name)
        if edges.job_released:
            answers += self.handshake.on_job_released()
        if edges.reset_alarm:  # clears the alarms a PLC may clear: a safe stop ends with the station's close only
            self._latched &= {"safe_stop"}
            for kind in list(self.stats.alarms):
                self._clear(kind)
            answers += self._status_items()
        return answers

    def _change_job(self, job: int, lot: str | None) -> list[tuple[str, Value]]:
        try:
            for listener in self.job_listeners:
                listener(job, lot)
        except Exception as exc:
            self._alarm("job_change_failed", f"job {job} (lot {lot}) refused: {exc}")
            return self.handshake.on_job_failed()
        self._clear("job_change_failed")
        self.stats.job_number, self.stats.lot_name = job, lot
        log.info("job change to %d (lot %s) acknowledged", job, lot)
        return self.handshake.on_job_done(job)
