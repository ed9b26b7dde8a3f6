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
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from inspection.backends.detector import Prepared, StagedDetector
from inspection.camera import Camera, EndOfStream
from inspection.detector import Detector, DetectorOutput
from inspection.errors import CameraError, StationError, StoreError
from inspection.judge import Judge
from inspection.outputs import RejectOutput
from inspection.runtime.stats import StageStats
from inspection.store import Store
from inspection.types import Frame, FrameFailure, Inspection, StageTimings

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

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def prepare(self, frame: Frame) -> Prepared:
        return Prepared(frame, [], [], 0.0)

    def forward(self, items: list[Prepared]) -> None:
        for item in items:
            item.result = self.detector.detect(item.frame)

    def finish(self, item: Prepared) -> DetectorOutput:
        assert item.result is not None
        return item.result

    def release(self, item: Prepared) -> None:
        pass


@dataclass
class _Shared:
    """What the stages share, apart from the queues."""

    summary: Any  # inspection.pipeline.RunSummary (not imported: the pipeline imports this module)
    acquired: int = 0


class Runtime:
    """Runs one station's parts through the concurrent stages. Build per run; `run()` blocks until done."""

    def __init__(self, sources: Sequence[SourceSpec], detector: Detector, judge: Judge, output: RejectOutput,
                 store: Store | None, listeners: list[Callable[[Inspection], None]], *, model_id: str,
                 options: RuntimeOptions | None = None, stats: StageStats | None = None,
                 alarm: Callable[[str, str], None] | None = None,
                 recorded: Callable[[Inspection, int], None] | None = None) -> None:
        self.sources = list(sources)
        self._recorded = recorded  # called on the recorder thread with the logged row id
        self.detector = detector
        self.staged: StagedDetector = detector if isinstance(detector, StagedDetector) else _Unstaged(detector)
        self.judge, self.output, self.store, self.listeners = judge, output, store, listeners
        self.model_id = model_id
        self.options = options or RuntimeOptions()
        self.stats = stats or StageStats()
        self._alarm_fn = alarm or (lambda kind, message: log.error("%s: %s", kind, message))
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

    # --- control -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop acquiring; parts in flight still get their verdicts (thread-safe, signal-safe)."""
        self._stopping.set()

    def run(self, summary: Any, max_parts: int | None = None) -> Any:
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
            self._expire_all("stopped", "station stopped before the part was inspected")
        self._wake.set()
        watchdog.join()
        self._records.put(_END)
        self._notes.put(_END)
        recorder.join()
        notifier.join()
        summary.elapsed_s = time.perf_counter() - started
        self._store_stats("run_stats")
        return summary

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

    @staticmethod
    def _thread(target: Callable[..., None], name: str, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=f"station-{name}", daemon=True)
        thread.start()
        return thread

    # --- stages ----------------------------------------------------------------------------------------

    def _acquire_loop(self, source: SourceSpec, max_parts: int | None) -> None:
        shared, camera = self._shared, source.camera
        assert shared is not None
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
            except CameraError as exc:
                self._unreserve()
                self._alarm("camera_error", f"{camera.camera_id}: {exc}")
                return
            received = time.perf_counter()
            if item is None:
                self._unreserve()
                continue
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
                self._failsafe(part, "stopped", "station stopped before the part was inspected")
            return
        try:
            self._in.put_nowait(part)
        except queue.Full:
            self._failsafe(part, "queue_full", "the station was busy: the part arrived while "
                           f"{self.options.queue_size} parts were waiting for inspection")

    def _prepare_loop(self) -> None:
        while (part := self._in.get()) is not _END:
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
        self._put_blocking(self._to_infer, _END)

    def _infer_loop(self) -> None:
        ended = False
        while not ended:
            batch, ended = self._next_batch()
            batch = [p for p in batch if not self._expired(p)]
            if not batch:
                continue
            try:
                self.staged.forward([p.prepared for p in batch])
            except Exception as exc:
                for part in batch:
                    if part.prepared is not None:
                        self.staged.release(part.prepared)
                    self._error(part, exc)
                continue
            for part in batch:
                if not self._put_blocking(self._to_judge, part):
                    return
        self._put_blocking(self._to_judge, _END)

    def _next_batch(self) -> tuple[list[_Part], bool]:
        """Whatever is waiting, up to the batch size; never waits for a batch to fill (latency first)."""
        first = self._to_infer.get()
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
        while (part := self._to_judge.get()) is not _END:
            prepared = part.prepared
            assert prepared is not None
            try:
                out = self.staged.finish(prepared)
                t0 = time.perf_counter()
                judgement = self.judge.judge(out.detections, part.item)
                judge_ms = (time.perf_counter() - t0) * 1000.0
            except Exception as exc:
                self._error(part, exc)
                continue
            finally:
                self.staged.release(prepared)
            if not self._claim(part):
                self.stats.count("late_result_discarded")
                continue
            verdict = judgement.verdict
            if time.perf_counter() > part.deadline:
                verdict = self.judge.failsafe("deadline", self._deadline_message(part))
                self.stats.count("failsafe:deadline")
            timings = StageTimings(part.acquire_ms, out.preprocess_ms, out.infer_ms, out.postprocess_ms, judge_ms)
            self._emit(part, Inspection(part.item, judgement.detections, verdict, judgement.defects, timings,
                                        self.judge.recipe.name, self.model_id, heatmap=out.heatmap))

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
                    self._emit(oldest, self._failsafe_inspection(oldest, "deadline", self._deadline_message(oldest)))
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
            self._failsafe(part, "deadline", self._deadline_message(part))
            return True
        return False

    def _error(self, part: _Part, exc: Exception) -> None:
        log.error("inspection of %s failed: %s", part.item.key, exc, exc_info=not isinstance(exc, StationError))
        self._failsafe(part, "inspection_error", f"{type(exc).__name__}: {exc}")

    def _failsafe(self, part: _Part, code: str, message: str) -> None:
        if self._claim(part):
            self.stats.count(f"failsafe:{code}")
            self._emit(part, self._failsafe_inspection(part, code, message))

    def _failsafe_inspection(self, part: _Part, code: str, message: str) -> Inspection:
        return Inspection(part.item, (), self.judge.failsafe(code, message), (),
                          StageTimings(acquire_ms=part.acquire_ms), self.judge.recipe.name, self.model_id)

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
            except StationError as exc:
                self.stats.count("output_error")
                self._alarm("output_error", str(exc))
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
            if not self._record_alarmed:
                self._record_alarmed = True
                self._alarm("record_backlog", f"the verdict log fell {self.options.record_queue_size} parts behind; "
                            "verdicts still go to the line but some are not logged: check the disk")
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
        while (inspection := self._records.get()) is not _END:
            if self.store is None:
                continue
            try:
                row_id = self.store.record(inspection, self.judge.recipe.keep_images)
                if self._recorded is not None:
                    self._recorded(inspection, row_id)
            except StoreError as exc:
                assert self._shared is not None
                self._shared.summary.store_errors += 1
                log.error("%s", exc)
            if time.monotonic() - last_stats > self.options.stats_every_s:
                last_stats = time.monotonic()
                self._store_stats("stage_stats")

    def _notify_loop(self) -> None:
        while (inspection := self._notes.get()) is not _END:
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

    def _alarm(self, kind: str, message: str) -> None:
        try:
            self._alarm_fn(kind, message)
        except Exception:
            log.exception("alarm %s could not be raised", kind)

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
