"""The concurrent station runtime: camera → prepare → infer → judge/output → recorder, each on its own thread.

```
camera threads ─▶ [in: bounded] ─▶ prepare ─▶ [bounded] ─▶ infer (batches) ─▶ [bounded] ─▶ judge+output
                                                                                              │ (verdict path)
                          watchdog: a part past its deadline gets the fail-safe verdict ◀──────┤
                                                   recorder (own bounded queue, SQLite) ◀──────┤
                                                   listeners (own bounded queue, drop-oldest) ◀┘
```

Rules it keeps:
- Exactly one verdict per part: every part is a `_Part` that is *claimed* once (under a lock) by
  whoever decides it — the judge, an error path, or the watchdog at the deadline. A late result
  for an already-decided part is discarded and counted, never published twice.
- Never a silent pass or a silent drop: queue full (live camera), inference error, deadline, a
  FrameFailure — each gets the recipe's fail-safe verdict, counted per reason.
- The reject output is published first, on the verdict path; the recorder and the listeners have
  their own bounded queues, so a slow disk or UI can never stall a verdict.
- Graceful stop: `stop()` ends acquisition; parts already in flight still go through every stage
  (or hit their deadline), get their verdicts published and logged; then the threads end.
- Supervised stages: every thread (camera, prepare, infer, judge/output, watchdog, recorder, listeners)
  runs under `_supervise`. An exception of any type gives the part(s) the stage held the fail-safe verdict
  (`stage_failed`), raises a `stage_failed` alarm naming stage and cause, and the stage goes on. A stage
  that keeps failing (more than `stage_restarts` times in `restart_window_s`), a camera that is lost
  (CameraError) and a full verdict spool stop the station safely: acquisition ends, the PLC outputs go to
  their fail-safe state, `fault` is set and `Runtime.fault` carries the error (its exit code) to the CLI.
- Every blocking get, put and join has a timeout: stopping never hangs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from inspection.camera import Camera, EndOfStream
from inspection.domain.codes import AlarmKind, ReasonCode
from inspection.domain.judge import Judge
from inspection.domain.types import Frame, FrameFailure, Inspection
from inspection.errors import CameraError, StageFailure, StationError, StoreError
from inspection.inference import Detector, DetectorOutput, Prepared, StagedDetector
from inspection.outputs import RejectOutput
from inspection.records.store import Store
from inspection.runtime.recorder import Recorder
from inspection.runtime.stats import RunSummary, StageStats
from inspection.runtime.verdicts import failsafe_inspection, judged_inspection, timed_judgement

__all__ = ["Runtime", "RuntimeOptions", "SourceSpec"]

log = logging.getLogger(__name__)
_END = object()  # end-of-stream marker passed down the stage queues


@dataclass(frozen=True)
class RuntimeOptions:
    queue_size: int = 4  # frames waiting for pre-processing; a live camera overflowing it → fail-safe
    stage_queue_size: int = 2  # between internal stages (keeps in-flight parts, and latency, low)
    max_batch: int = 4  # frames per network call when several are waiting (cameras, tiles)
    record_queue_size: int = 1024
    listener_queue_size: int = 64
    read_timeout_s: float = 0.2
    drain_timeout_s: float = 30.0
    stats_every_s: float = 30.0
    stage_restarts: int = 5  # a stage failing more often than this within restart_window_s stops the station
    restart_window_s: float = 10.0
    camera_error_limit: int = 10  # consecutive unexpected read errors before a camera counts as lost
    spool_size: int = 10000  # verdicts held while the database refuses rows; full → the line stops
    spool_retry_s: float = 0.5
    join_timeout_s: float = 10.0  # the recorder and listeners, after the verdict path has ended


@dataclass(frozen=True)
class SourceSpec:
    """A camera and whether it can wait for the station (a replay file can; a part on a belt cannot)."""

    camera: Camera
    can_wait: bool = False


@dataclass(eq=False)
class _Part:
    item: Frame | FrameFailure
    received: float  # perf_counter when the camera delivered it
    acquire_ms: float
    deadline: float  # perf_counter by which its verdict must be out
    prepared: Prepared | None = None
    output: DetectorOutput | None = None
    done: bool = False


class _Unstaged:
    """Adapts a plain Detector (e.g. ultralytics) to the staged calls: all work happens in `forward`."""

    max_batch = 1
    in_flight = 1

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def prepare(self, frame: Frame) -> Prepared:
        return Prepared(frame, [], [], 0.0)

    def forward(self, items: list[Prepared]) -> None:
        for item in items:
            item.result = self.detector.detect(item.frame)

    def start(self, items: list[Prepared], queued: bool = False) -> None:
        self.forward(items)

    def complete(self, handle: None) -> None:
        pass

    def finish(self, item: Prepared) -> DetectorOutput:
        assert item.result is not None
        return item.result

    def release(self, item: Prepared) -> None:
        pass


def _parts_of(flights: deque[tuple[list[_Part], Any]]) -> list[_Part]:
    """The parts of the network calls under way (the infer stage's hand: fail-safe if the stage fails)."""
    return [part for parts, _ in flights for part in parts]


@dataclass
class _Shared:
    """What the stages share, apart from the queues."""

    summary: RunSummary
    acquired: int = 0


class Runtime:
    """Runs one station's parts through the concurrent stages. Build per run; `run()` blocks until done."""

    def __init__(self, sources: Sequence[SourceSpec], detector: Detector, judge: Judge, output: RejectOutput,
                 store: Store | None, listeners: list[Callable[[Inspection], None]], *, model_id: str,
                 options: RuntimeOptions | None = None, stats: StageStats | None = None,
                 alarm: Callable[..., None] | None = None, clear: Callable[..., None] | None = None,
                 recorded: Callable[[Inspection, int], None] | None = None) -> None:
        """`alarm(kind, message, source)` raises (a repeat only counts), `clear(kind, source, message)` clears."""
        self.sources = list(sources)
        self._recorded = recorded  # called on the recorder thread with the logged row id
        self.detector = detector
        self.staged: StagedDetector = detector if isinstance(detector, StagedDetector) else _Unstaged(detector)
        self.judge, self.output, self.store, self.listeners = judge, output, store, listeners
        self.model_id = model_id
        self.options = options or RuntimeOptions()
        self.stats = stats or StageStats()
        self._alarm_fn = alarm or (lambda kind, message, source="": log.error("%s: %s", kind, message))
        self._clear_fn = clear or (lambda kind, source="", message="": None)
        self.fault: StationError | None = None  # why the station stopped safely (None: it did not)
        self._hand: dict[str, list[_Part]] = {}  # the parts each stage holds right now (fail-safe if it fails)
        self._output_failures = 0
        self._record_dropped = 0
        self._recorder = (Recorder(store, lambda: self.judge.recipe.keep_images, recorded,
                                   lambda kind, message: self._alarm(kind, message, "recorder"),
                                   lambda kind, message: self._clear(kind, "recorder", message),
                                   self._spool_full, self.options.spool_size, self.options.spool_retry_s)
                          if store is not None else None)
        self.batch = max(1, min(self.options.max_batch, self.staged.max_batch))
        self._in: queue.Queue[Any] = queue.Queue(self.options.queue_size)
        self._to_infer: queue.Queue[Any] = queue.Queue(self.options.stage_queue_size)
        self._to_judge: queue.Queue[Any] = queue.Queue(self.options.stage_queue_size)
        self._records: queue.Queue[Any] = queue.Queue(self.options.record_queue_size)
        self._notes: queue.Queue[Any] = queue.Queue(self.options.listener_queue_size)
        self._inflight: OrderedDict[int, _Part] = OrderedDict()
        self._lock = threading.Lock()  # claims and the in-flight table
        self._emit_lock = threading.Lock()  # one verdict published at a time, in order
        self._wake = threading.Event()
        self._shared: _Shared | None = None
        self._record_alarmed = False
        self._stopping = threading.Event()
        self._abort = threading.Event()  # set only when a hung stage must be abandoned
        self._workers: list[threading.Thread] = []

    @property
    def deadline_s(self) -> float:
        """Derived from the judge's recipe, so a PLC job change (a new judge) also brings its deadline."""
        return self.judge.recipe.deadline_ms / 1000.0

    def health_signals(self) -> dict[str, float]:
        """Health probe (inspection.health.probe): how full the input queue and the verdict log's queue are,
        as shares of their size (qsize is approximate, which is enough for a trend)."""
        return {"queue_fill": self._in.qsize() / self.options.queue_size,
                "record_backlog": self._records.qsize() / self.options.record_queue_size}

    # --- control -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop acquiring; parts in flight still get their verdicts (thread-safe, signal-safe)."""
        self._stopping.set()

    def run(self, summary: RunSummary, max_parts: int | None = None) -> RunSummary:
        self._shared = _Shared(summary)
        started = time.perf_counter()
        workers = self._workers = [self._thread(self._prepare_loop, "prepare"),
                                   self._thread(self._infer_loop, "infer"), self._thread(self._judge_loop, "judge")]
        watchdog = self._thread(self._watchdog_loop, "watchdog")
        recorder = self._thread(self._record_loop, "recorder")
        notifier = self._thread(self._notify_loop, "listeners")
        cameras = [self._thread(self._acquire_loop, f"camera-{s.camera.camera_id}", s, max_parts)
                   for s in self.sources]
        self._join_cameras(cameras)
        self._put_blocking(self._in, _END)
        drain_until = time.monotonic() + self.options.drain_timeout_s + self.deadline_s
        for thread in workers:
            thread.join(max(drain_until - time.monotonic(), 0.0))
        if any(t.is_alive() for t in workers):  # a hung model: the watchdog has given every part its verdict
            self._abort.set()
            log.error("pipeline stages did not finish within the drain timeout; in-flight parts are fail-safe")
            self._expire_all(ReasonCode.STOPPED, "station stopped before the part was inspected")
        self._wake.set()
        watchdog.join(self.deadline_s + self.options.join_timeout_s)
        if watchdog.is_alive():  # cannot happen unless the watchdog itself hangs: give every part its verdict
            self._expire_all(ReasonCode.STOPPED, "station stopped before the part was inspected")
        self._join_while_progressing(recorder)
        self._put_until(self._notes, _END, time.monotonic() + self.options.join_timeout_s)
        notifier.join(self.options.join_timeout_s)
        self._finish_log(summary, recorder)
        summary.elapsed_s = time.perf_counter() - started
        self._store_stats("run_stats")
        return summary

    def _finish_log(self, summary: Any, recorder: threading.Thread) -> None:
        """Verdicts still spooled or queued when the run ends are written if the database allows, else
        counted as not logged (and the run ends with a StoreError fault)."""
        if self._recorder is None:
            return
        summary.store_errors += self._record_dropped
        if recorder.is_alive():  # stuck in the database: what it has not taken is not logged
            summary.store_errors += self._records.qsize()
        else:
            summary.store_errors += self._recorder.finish(self.options.join_timeout_s)
        if summary.store_errors and self.fault is None:
            self.fault = StoreError(f"{summary.store_errors} verdict(s) could not be logged to "
                                    f"{self.store.path if self.store else 'the database'}; the PLC had them")

    def _join_while_progressing(self, recorder: threading.Thread) -> None:
        """The recorder may have a backlog to write (bounded by record_queue_size): wait while it makes
        progress, give up after join_timeout_s without any (a database that hangs)."""
        progress, ended = (-1, -1), False
        stalled_since = time.monotonic()
        while recorder.is_alive():
            if not ended:  # the end marker queues behind the backlog, as soon as there is room
                try:
                    self._records.put_nowait(_END)
                    ended = True
                except queue.Full:
                    pass
            recorder.join(0.2)
            now = (self._records.qsize(), self._recorder.logged if self._recorder else 0)
            if now != progress:
                progress, stalled_since = now, time.monotonic()
            elif time.monotonic() - stalled_since > self.options.join_timeout_s:
                log.error("the recorder made no progress for %.0f s; the verdicts it still holds are not logged",
                          self.options.join_timeout_s)
                return

    def _put_until(self, target: queue.Queue[Any], item: Any, end_by: float) -> bool:
        try:
            target.put(item, timeout=max(end_by - time.monotonic(), 0.01))
            return True
        except queue.Full:
            return False

    def _join_cameras(self, cameras: list[threading.Thread]) -> None:
        """Cameras end at end of stream, max_parts or stop(); after a stop, a camera stuck behind a hung
        stage is abandoned once the drain timeout has passed."""
        assert self._shared is not None
        stopped_at: float | None = None
        while any(t.is_alive() for t in cameras):
            for thread in cameras:
                thread.join(0.1)
            if self._stopping.is_set():
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > self.options.drain_timeout_s + self.deadline_s:
                    self._abort.set()
                    return

    def _thread(self, target: Callable[..., None], name: str, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=self._supervise, args=(name, target, *args), name=f"station-{name}",
                                  daemon=True)
        thread.start()
        return thread

    # --- supervision ---------------------------------------------------------------------------------

    def _supervise(self, stage: str, loop: Callable[..., None], *args: Any) -> None:
        """Run one stage's loop; an exception of any type fails the parts in hand safe, raises an alarm and
        restarts the loop, or stops the station safely when the stage keeps failing. Never ends silently."""
        failures: list[float] = []
        while True:
            try:
                loop(*args)
                return
            except BaseException as exc:  # any type at all: a stage never dies silently
                now = time.monotonic()
                failures = [t for t in failures if now - t <= self.options.restart_window_s] + [now]
                cause = f"{type(exc).__name__}: {exc}"
                log.error("station stage %s failed: %s", stage, cause, exc_info=exc,
                          extra={"alarm_kind": AlarmKind.STAGE_FAILED.value})
                self.stats.count(f"stage_failed:{stage}")
                for part in self._hand.pop(stage, []):
                    self._failsafe_quietly(part, ReasonCode.STAGE_FAILED, f"the {stage} stage failed: {cause}")
                if len(failures) > self.options.stage_restarts:
                    self._safe_stop(AlarmKind.STAGE_FAILED, stage,
                                    f"{stage} failed {len(failures)} times in {self.options.restart_window_s:.0f} s "
                                    f"(last: {cause}); the station stopped safely",
                                    StageFailure(f"station stage {stage} keeps failing: {cause}"), abort=True)
                    return
                self._alarm(AlarmKind.STAGE_FAILED, f"{stage} failed ({cause}); the part in hand is fail-safe "
                            "and the stage goes on", stage)

    def _failsafe_quietly(self, part: _Part, code: str, message: str) -> None:
        try:
            self._failsafe(part, code, message)
        except Exception:
            log.exception("fail-safe verdict for %s could not be published", part.item.key)

    def _safe_stop(self, kind: str, source: str, message: str, error: StationError, abort: bool = False) -> None:
        """Stop acquiring, PLC outputs fail-safe (reject, fault on, ready off), remember the fault for the CLI.
        With `abort` (a verdict-path stage is gone) every part in flight gets its fail-safe verdict now."""
        with self._lock:
            if self.fault is None:
                self.fault = error
        self._alarm(kind, message, source)
        self._alarm(AlarmKind.SAFE_STOP, message)  # no source: the output adapter's own safe_stop folds into it
        self._stopping.set()
        stop_line = getattr(self.output, "safe_stop", None)
        if callable(stop_line):
            try:
                stop_line(message)
            except Exception:
                log.exception("could not put the reject output in its fail-safe state")
        if abort:
            self._abort.set()
            self._expire_all(ReasonCode.STOPPED, f"station stopped safely before the part was inspected: {message}")
            self._wake.set()

    def _spool_full(self, message: str) -> None:
        self._safe_stop(AlarmKind.SPOOL_FULL, "recorder", message, StoreError(message))

    def _get(self, source: queue.Queue[Any]) -> Any:
        """A stage's next item; _END when the run abandons the stages (never blocks forever)."""
        while not self._abort.is_set():
            try:
                return source.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    # --- stages ----------------------------------------------------------------------------------------

    def _acquire_loop(self, source: SourceSpec, max_parts: int | None) -> None:
        shared, camera = self._shared, source.camera
        assert shared is not None
        errors, read_errors, last_sequence = 0, 0, -1
        while not self._stopping.is_set():
            with self._lock:
                if max_parts is not None and shared.acquired >= max_parts:
                    return
                shared.acquired += 1  # reserve the slot before reading: two cameras never overshoot
            try:
                t0 = time.perf_counter()
                item = camera.read(self.options.read_timeout_s)
            except EndOfStream:
                item = None
                self._unreserve()
                return
            except CameraError as exc:  # the camera is gone: parts would pass uninspected, so the line stops
                self._unreserve()
                self._safe_stop(AlarmKind.CAMERA_ERROR, f"camera-{camera.camera_id}", f"{camera.camera_id}: {exc}",
                                exc)
                return
            except BaseException as exc:  # any driver or decoder bug: the part in hand gets its fail-safe verdict
                errors += 1
                cause = f"{type(exc).__name__}: {exc}"
                self.stats.count("camera_read_error")
                if errors >= self.options.camera_error_limit:
                    self._unreserve()
                    self._safe_stop(AlarmKind.CAMERA_ERROR, f"camera-{camera.camera_id}",
                                    f"{camera.camera_id}: {errors} read errors in a row (last: {cause})",
                                    CameraError(f"camera {camera.camera_id}: {cause}"))
                    return
                self._alarm(AlarmKind.CAMERA_ERROR, f"{camera.camera_id}: read failed ({cause}); the part is "
                            "fail-safe and the camera goes on", f"camera-{camera.camera_id}")
                read_errors += 1  # the camera did not number this part: its key says so, and never clashes
                item = FrameFailure(camera.camera_id, last_sequence + 1, time.time(), ReasonCode.CAMERA_ERROR,
                                    f"camera {camera.camera_id} read failed: {cause}",
                                    part_id=f"{camera.camera_id}#read-error-{read_errors}")
            received = time.perf_counter()
            if item is None:
                self._unreserve()
                continue
            if not isinstance(item, FrameFailure) or item.code != ReasonCode.CAMERA_ERROR:
                if errors:
                    self._clear(AlarmKind.CAMERA_ERROR, f"camera-{camera.camera_id}",
                                f"{camera.camera_id} reads again after {errors} error(s)")
                errors = 0
            last_sequence = item.sequence
            self._admit(_Part(item, received, (received - t0) * 1000.0, received + self.deadline_s), source)

    def _unreserve(self) -> None:
        assert self._shared is not None
        with self._lock:
            self._shared.acquired -= 1

    def _admit(self, part: _Part, source: SourceSpec) -> None:
        with self._lock:
            self._inflight[id(part)] = part
        self._wake.set()
        if isinstance(part.item, FrameFailure):
            self._failsafe(part, part.item.code, part.item.message)
            return
        if source.can_wait:
            if not self._put_blocking(self._in, part):
                self._failsafe(part, ReasonCode.STOPPED, "station stopped before the part was inspected")
            return
        try:
            self._in.put_nowait(part)
        except queue.Full:
            self._failsafe(part, ReasonCode.QUEUE_FULL, "the station was busy: the part arrived while "
                           f"{self.options.queue_size} parts were waiting for inspection")

    def _prepare_loop(self) -> None:
        while (part := self._get(self._in)) is not _END:
            self._hand["prepare"] = [part]
            if self._expired(part):
                continue
            try:
                assert isinstance(part.item, Frame)
                part.prepared = self.staged.prepare(part.item)
            except Exception as exc:
                self._error(part, exc)
                continue
            if not self._put_blocking(self._to_infer, part):
                return
            self._hand.pop("prepare", None)
        self._put_blocking(self._to_infer, _END)

    def _infer_loop(self) -> None:
        """Starts the network on the next batch while up to `in_flight` earlier ones are still running, and
        hands batches on in the order they went in (the line's reject order is the camera's order)."""
        depth = max(1, int(getattr(self.staged, "in_flight", 1)))
        flights: deque[tuple[list[_Part], Any]] = deque()
        ended = False
        while flights or not ended:
            if not ended and len(flights) < depth:
                batch, ended = self._next_batch(wait=not flights)
                batch = [p for p in batch if not self._expired(p)]
                if batch:
                    self._hand["infer"] = _parts_of(flights) + batch
                    self._start(batch, flights)
                    continue  # a free request: fill it before waiting for the oldest
                if not flights:
                    continue
            oldest, handle = flights.popleft()
            if not self._complete(oldest, handle):
                return
            self._hand["infer"] = _parts_of(flights)
        self._hand.pop("infer", None)
        self._put_blocking(self._to_judge, _END)

    def _start(self, batch: list[_Part], flights: deque[tuple[list[_Part], Any]]) -> None:
        """The batch's network call under way, queued behind `flights`; if it fails its parts are fail-safe."""
        try:
            queued = len(batch) > 1 or not self._to_infer.empty()  # parts waited: rate before latency
            flights.append((batch, self.staged.start([p.prepared for p in batch], queued)))  # type: ignore[misc]
        except Exception as exc:
            self._network_failed(batch, exc)

    def _complete(self, batch: list[_Part], handle: Any) -> bool:
        """Wait for the batch's outputs and pass its parts to the judge; False when the run is abandoned."""
        try:
            self.staged.complete(handle)
        except Exception as exc:
            self._network_failed(batch, exc)
            return True
        return all(self._put_blocking(self._to_judge, part) for part in batch)

    def _network_failed(self, batch: list[_Part], exc: Exception) -> None:
        for part in batch:
            if part.prepared is not None:
                self.staged.release(part.prepared)
            self._error(part, exc)

    def _next_batch(self, wait: bool = True) -> tuple[list[_Part], bool]:
        """Whatever is waiting, up to the batch size; never waits for a batch to fill (latency first). Without
        `wait`, an empty list at once when nothing is waiting."""
        if wait:
            first = self._get(self._to_infer)
        else:
            try:
                first = self._to_infer.get_nowait()
            except queue.Empty:
                return [], False
        if first is _END:
            return [], True
        batch = [first]
        while len(batch) < self.batch:
            try:
                more = self._to_infer.get_nowait()
            except queue.Empty:
                break
            if more is _END:
                return batch, True
            batch.append(more)
        return batch, False

    def _judge_loop(self) -> None:
        while (part := self._get(self._to_judge)) is not _END:
            self._hand["judge"] = [part]
            prepared = part.prepared
            assert prepared is not None
            judge = self.judge  # read once: a job change between judging and recording must not mix recipes
            try:
                out = self.staged.finish(prepared)
                judgement, judge_ms = timed_judgement(judge, out, part.item)
            except Exception as exc:
                self._error(part, exc)
                continue
            finally:
                self.staged.release(prepared)
            if not self._claim(part):
                self.stats.count("late_result_discarded")
                continue
            late = self._deadline_message(part) if time.perf_counter() > part.deadline else None
            if late is not None:
                self.stats.count("failsafe:deadline")
            assert isinstance(part.item, Frame)
            self._emit(part, judged_inspection(judge, part.item, out, judgement, judge_ms, self.model_id,
                                               part.acquire_ms, late))
            self._hand.pop("judge", None)

    # --- deadlines and fail-safe verdicts ------------------------------------------------------------------

    def _watchdog_loop(self) -> None:
        """Gives the fail-safe verdict to any part still undecided at its deadline (hung or slow model)."""
        workers_done = False
        while True:
            with self._lock:
                oldest = next(iter(self._inflight.values()), None)
            now = time.perf_counter()
            if oldest is not None and now >= oldest.deadline:
                if self._claim(oldest):
                    self.stats.count("failsafe:deadline")
                    self._emit(oldest, self._failsafe_inspection(oldest, ReasonCode.DEADLINE,
                                                                 self._deadline_message(oldest)))
                continue
            if workers_done and oldest is None:
                return
            self._wake.wait(min(oldest.deadline - now, 0.05) if oldest is not None else 0.05)
            self._wake.clear()
            workers_done = workers_done or self._workers_finished()

    def _workers_finished(self) -> bool:
        return self._abort.is_set() or not any(t.is_alive() for t in self._workers)

    def _deadline_message(self, part: _Part) -> str:
        waited = (time.perf_counter() - part.received) * 1000.0
        return f"not judged within the recipe's deadline of {self.judge.recipe.deadline_ms:.0f} ms ({waited:.0f} ms)"

    def _expired(self, part: _Part) -> bool:
        """Skip work for a part already decided (by the watchdog) or past its deadline."""
        if part.done:
            if part.prepared is not None:
                self.staged.release(part.prepared)
            return True
        if time.perf_counter() >= part.deadline:
            if part.prepared is not None:
                self.staged.release(part.prepared)
            self._failsafe(part, ReasonCode.DEADLINE, self._deadline_message(part))
            return True
        return False

    def _error(self, part: _Part, exc: Exception) -> None:
        log.error("inspection of %s failed: %s", part.item.key, exc, exc_info=not isinstance(exc, StationError))
        self._failsafe(part, ReasonCode.INSPECTION_ERROR, f"{type(exc).__name__}: {exc}")

    def _failsafe(self, part: _Part, code: str, message: str) -> None:
        if self._claim(part):
            self.stats.count(f"failsafe:{code}")
            self._emit(part, self._failsafe_inspection(part, code, message))

    def _failsafe_inspection(self, part: _Part, code: str, message: str) -> Inspection:
        return failsafe_inspection(self.judge, part.item, code, message, self.model_id, part.acquire_ms)

    def _expire_all(self, code: str, message: str) -> None:
        with self._lock:
            parts = list(self._inflight.values())
        for part in parts:
            self._failsafe(part, code, message)

    def _claim(self, part: _Part) -> bool:
        """True for exactly one caller per part: the one that gives its verdict."""
        with self._lock:
            if part.done:
                return False
            part.done = True
            self._inflight.pop(id(part), None)
            return True

    # --- verdict path and slow consumers -----------------------------------------------------------------

    def _emit(self, part: _Part, inspection: Inspection) -> None:
        """Reject output first (the line waits for it); then hand off to recorder and listeners."""
        with self._emit_lock:
            t0 = time.perf_counter()
            try:
                self.output.publish(inspection)
            except BaseException as exc:  # any type: the verdict is still counted, logged and shown
                self.stats.count("output_error")
                self._output_failures += 1
                self._alarm(AlarmKind.OUTPUT_ERROR, str(exc) if isinstance(exc, StationError)
                            else f"{type(exc).__name__}: {exc}", "output")
            else:
                if self._output_failures:  # the flood was one alarm; it clears with the first verdict delivered
                    failed, self._output_failures = self._output_failures, 0
                    self._clear(AlarmKind.OUTPUT_ERROR, "output", f"reject output works again; {failed} "
                                "verdict(s) were not delivered while it failed")
            now = time.perf_counter()
            # Frame→verdict: from the moment the camera handed the frame over. `acquire_ms` (time blocked in
            # read(), i.e. waiting for the next trigger plus transfer/decode) is reported as its own stage.
            latency = (now - part.received) * 1000.0
            inspection = replace(inspection, timings=replace(inspection.timings, output_ms=(now - t0) * 1000.0,
                                                             latency_ms=latency))
            assert self._shared is not None
            self._shared.summary.add(inspection)
            self.stats.add(inspection.timings)
            self.stats.count(f"verdict:{inspection.verdict.status.value}")
        try:
            self._records.put_nowait(inspection)
        except queue.Full:
            self.stats.count("record_dropped")
            self._record_dropped += 1
            if not self._record_alarmed:
                self._record_alarmed = True
                self._alarm(AlarmKind.RECORD_BACKLOG, f"the verdict log fell {self.options.record_queue_size} parts "
                            "behind; verdicts still go to the line but some are not logged: check the disk")
        if self.listeners:
            self._offer_latest(inspection)

    def _offer_latest(self, inspection: Inspection) -> None:
        """Observers get the newest results; when they fall behind, the oldest waiting one is dropped."""
        while True:
            try:
                self._notes.put_nowait(inspection)
                return
            except queue.Full:
                try:
                    self._notes.get_nowait()
                    self.stats.count("listener_dropped")
                except queue.Empty:
                    pass

    def _record_loop(self) -> None:
        last_stats = time.monotonic()
        if self._recorder is not None and self._recorder.in_hand is not None:  # restarted: the verdict whose
            self._recorder.requeue(self._recorder.in_hand)  # row was not written goes via the spool, never lost
            self._recorder.in_hand = None
        while True:
            try:
                inspection = self._records.get(timeout=self.options.spool_retry_s)
            except queue.Empty:
                if self._recorder is not None:
                    self._recorder.drain()  # the database may be back: empty the spool while the line is idle
                continue
            if inspection is _END:
                return
            if self._recorder is not None:
                self._recorder.handle(inspection)
            if time.monotonic() - last_stats > self.options.stats_every_s:
                last_stats = time.monotonic()
                self._store_stats("stage_stats")

    def _notify_loop(self) -> None:
        while True:
            try:
                inspection = self._notes.get(timeout=1.0)
            except queue.Empty:
                continue
            if inspection is _END:
                return
            for listener in list(self.listeners):
                try:
                    listener(inspection)
                except Exception:
                    log.exception("listener failed")

    def _store_stats(self, kind: str) -> None:
        if self.store is None:
            return
        snapshot = self.stats.snapshot()
        latency = snapshot["stages_ms"]["latency"]  # type: ignore[index]
        try:
            self.store.event("info", kind, f"latency p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms, "
                             f"p99 {latency['p99']:.1f} ms", snapshot)
        except StoreError as exc:
            log.error("%s", exc)

    def _alarm(self, kind: str, message: str, source: str = "") -> None:
        try:
            self._alarm_fn(kind, message, source)
        except Exception:
            log.exception("alarm %s could not be raised", kind)

    def _clear(self, kind: str, source: str, message: str) -> None:
        try:
            self._clear_fn(kind, source, message)
        except Exception:
            log.exception("alarm %s could not be cleared", kind)

    def _put_blocking(self, target: queue.Queue[Any], item: Any) -> bool:
        """Back-pressure between internal stages: parts behind a slow stage wait (the watchdog keeps time).
        False only when the run abandons a hung stage."""
        while not self._abort.is_set():
            try:
                target.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False
