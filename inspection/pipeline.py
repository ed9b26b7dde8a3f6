"""The station: cameras → detector → recipe judge → reject output → verdict log.

`Station` owns the adapters; `Station.run` drives them through the concurrent runtime
(`inspection.runtime.Runtime`: stages on their own threads, bounded queues, deadlines, reject output
first, logging after). `Station.inspect` stays the straight-line path for one part. Every part gets
exactly one verdict; a part that cannot be inspected gets the recipe's fail-safe verdict.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspection.camera import Camera
from inspection.camera.replay import ReplayCamera
from inspection.config import StationConfig
from inspection.detector import Detector
from inspection.errors import ConfigError, StoreError
from inspection.judge import Judge
from inspection.model_registry import ModelRegistry
from inspection.outputs import RejectOutput
from inspection.recipe import Recipe, load_recipe
from inspection.registry import create_adapter
from inspection.runtime import Runtime, RuntimeOptions, SourceSpec, StageStats
from inspection.samples import SampleKeeper
from inspection.store import ImageArchive, Store
from inspection.types import Frame, FrameFailure, Inspection, StageTimings, VerdictStatus

__all__ = ["RunSummary", "Station"]

log = logging.getLogger(__name__)
Listener = Callable[[Inspection], None]


@dataclass
class RunSummary:
    """Counts and rates of one run, printed by the CLI and returned by the API."""

    counts: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in VerdictStatus})
    failsafe: int = 0
    store_errors: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    stage_stats: dict[str, Any] = field(default_factory=dict)  # rolling p50/p95/p99 per stage + counters

    def add(self, inspection: Inspection) -> None:
        self.counts[inspection.verdict.status.value] += 1
        self.failsafe += int(inspection.verdict.failsafe)
        self.latencies_ms.append(inspection.timings.latency_ms)

    @property
    def parts(self) -> int:
        return sum(self.counts.values())

    @property
    def yield_pct(self) -> float:
        return 100.0 * self.counts["PASS"] / self.parts if self.parts else 0.0

    @property
    def fps(self) -> float:
        return self.parts / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency_percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "parts": self.parts, **{k.lower(): v for k, v in self.counts.items()},
            "failsafe": self.failsafe, "store_errors": self.store_errors,
            "yield_pct": round(self.yield_pct, 2), "fps": round(self.fps, 2),
            "elapsed_s": round(self.elapsed_s, 3),
            "latency_p50_ms": round(self.latency_percentile(50), 2),
            "latency_p95_ms": round(self.latency_percentile(95), 2),
            "latency_p99_ms": round(self.latency_percentile(99), 2),
            **self.stage_stats,
        }


class Station:
    """Owns every adapter of one configured station. Use as a context manager."""

    def __init__(self, config: StationConfig, recipe: Recipe | None = None, db_path: Path | None = None) -> None:
        self.config = config
        self.recipe = recipe or load_recipe(config.recipe)
        self.judge = Judge(self.recipe)
        self.db_path = db_path or config.db_path
        self.cameras: list[Camera] = []
        self.detector: Detector | None = None
        self.output: RejectOutput | None = None
        self.store: Store | None = None
        self.listeners: list[Listener] = []
        self.samples: SampleKeeper | None = None
        self.feedback: Any = None  # inspection.process.feedback.StationFeedback when `process:` is set
        self.telemetry: Any = None  # inspection.process.telemetry.TelemetryState when `telemetry:` is set
        self.telemetry_sinks: list[Any] = []  # MQTT client, OPC UA server… (see inspection.registry "telemetry")
        self._telemetry_feed: Any = None
        self.health: Any = None  # inspection.health.station.HealthListener: the station watches its own eyes
        self._stop = threading.Event()
        self.runtime_options = RuntimeOptions()
        self.stats = StageStats()  # rolling per-stage percentiles and fail-safe counters, across runs
        self._runtime: Runtime | None = None
        self._warm = False

    # --- lifecycle -----------------------------------------------------------------------------

    def open(self) -> Station:
        try:
            self.store = Store(self.db_path, ImageArchive(
                self.config.archive_dir, self.config.store.keep_images, self.config.store.sample_every,
                self.config.store.image_format, self.config.store.min_free_mb))
            self.detector = create_adapter("detector", self.config.detector, model_path=self._model_path(),
                                           tiling=self.recipe.tiling)
            if self.recipe.tiling is not None and getattr(self.detector, "tiling", None) is None:
                raise ConfigError(f"{self.recipe.source_file or self.recipe.name}: tiling: needs an exported-model "
                                  f"detector (kind: onnx, openvino or tensorrt), not {self.config.detector.kind!r}")
            self.recipe.check_classes(self.detector.class_names, self.detector.model_id)
            self.output = create_adapter("output", self.config.output, alarm=self._alarm,
                                         job_change=self.change_job)
            self.output.open()
            if self.config.telemetry:
                self._open_telemetry()
            if self.config.samples.enabled:
                self.samples = SampleKeeper(self.store, self.config.samples_dir, self.recipe, self.config.samples)
            for options in self.config.cameras:
                camera = create_adapter("camera", options, on_event=self._camera_event)
                camera.open()
                self.cameras.append(camera)
            if self.config.process is not None:
                from inspection.process.feedback import open_station_feedback  # only with `process:`

                self.feedback = open_station_feedback(self.config.process, self.detector, self.db_path,
                                              twin=getattr(self.cameras[0], "twin", None),
                                              telemetry=self.telemetry)
                self.listeners.append(self.feedback)
            elif self.telemetry is not None:
                # Without process feedback telemetry is fed where each verdict is logged (every part, in
                # order), so the published counts equal the verdicts in the store.
                from inspection.process.telemetry import TelemetryFeed

                self._telemetry_feed = TelemetryFeed(self.telemetry)
            from inspection.health.station import open_station_health

            self.health = open_station_health(self.store, self.recipe, self.telemetry, self.db_path.parent)
            self.listeners.append(self.health)
            self.store.event("info", "station_started", f"recipe {self.recipe.name}, model {self.detector.model_id}")
        except BaseException:
            self.close()
            raise
        return self

    def _open_telemetry(self) -> None:
        """The telemetry state and its sinks (`telemetry:`); a sink never blocks on its peer here."""
        from inspection.process.telemetry import TelemetryState  # only with `telemetry:`

        assert self.detector is not None
        self.telemetry = TelemetryState(self.detector.class_names, source=f"inspection-station/{self.config.name}")
        for options in self.config.telemetry:
            sink = create_adapter("telemetry", options, state=self.telemetry, station=self.config.name,
                                  event=self._telemetry_event)
            sink.open()
            self.telemetry_sinks.append(sink)

    def _telemetry_event(self, level: str, kind: str, message: str) -> None:
        """A telemetry sink lost or regained its peer: logged in the store and shown in the telemetry's own
        alarms. It does not freeze the process controller: the verdicts are not in doubt."""
        if self.telemetry is not None:
            if level == "alarm":
                self.telemetry.alarm(kind, message)
            else:
                self.telemetry.clear_alarm(kind)
        if self.store is not None:
            try:
                self.store.event(level, kind, message)
            except StoreError:
                log.error("could not log telemetry event %s", kind)

    def _model_path(self) -> Path | None:
        """The recipe's model file, or its product's production model from the registry (hash verified)."""
        if self.recipe.registry_product is None:
            return self.recipe.model
        registry = ModelRegistry(self.config.registry_dir)
        try:
            return registry.production_path(self.recipe.registry_product)
        finally:
            registry.close()

    def change_job(self, job: int, lot: str | None = None) -> Recipe:
        """Switch to the recipe of PLC job `job` without stopping (raises to refuse; the PLC sees the error).

        Only recipes that run on the loaded model can be switched to live: a different model needs a restart."""
        path = self.config.jobs.get(job)
        if path is None:
            known = ", ".join(str(j) for j in sorted(self.config.jobs)) or "none configured"
            raise ConfigError(f"job {job} is not under `jobs:` in the station YAML (known jobs: {known})")
        recipe = load_recipe(path)
        assert self.detector is not None
        wanted = recipe.model or recipe.registry_product
        current = self.recipe.model or self.recipe.registry_product
        if wanted is not None and wanted != current:
            raise ConfigError(f"job {job} ({path}) needs model {wanted}, the station runs {current}: "
                              "stop the station and start it with that recipe")
        recipe.check_classes(self.detector.class_names, self.detector.model_id)
        self.recipe, self.judge = recipe, Judge(recipe)
        if self._runtime is not None:
            self._runtime.judge = self.judge  # one attribute swap: each part is judged by one recipe
        if self.store is not None:
            self.store.event("info", "job_change", f"job {job} (lot {lot or '-'}): recipe {recipe.name}",
                             {"job": job, "lot": lot, "recipe": str(path)})
        return recipe

    def _camera_event(self, event: Any) -> None:
        """Camera adapters report loss and reconnection from their own threads; the store is thread-safe."""
        level = "info" if event.kind == "camera_reconnected" else "alarm"
        log.log(logging.INFO if level == "info" else logging.ERROR, "%s: %s", event.kind, event.message)
        if self.telemetry is not None:
            key = f"camera {event.camera_id}"
            if level == "alarm":
                self.telemetry.alarm(key, event.message)
            else:
                self.telemetry.clear_alarm(key)
        if self.store is not None:
            try:
                self.store.event(level, event.kind, event.message, {"camera_id": event.camera_id})
            except StoreError:
                log.error("could not log camera event %s", event.kind)

    def close(self) -> None:
        if self.feedback is not None:
            _quietly(self.feedback.close)
            if self.feedback in self.listeners:
                self.listeners.remove(self.feedback)
            self.feedback = None
        for sink in reversed(self.telemetry_sinks):  # before the store: a sink's last events are logged
            _quietly(sink.close)
        self.telemetry_sinks.clear()
        self.telemetry = self._telemetry_feed = None
        for camera in self.cameras:
            _quietly(camera.close)
        self.cameras.clear()
        if self.output is not None:
            _quietly(self.output.close)
        if self.detector is not None:
            _quietly(self.detector.close)
        if self.store is not None:
            _quietly(self.store.close)
            self.store = None

    def __enter__(self) -> Station:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self) -> None:
        """Ask `run` to stop acquiring; parts in flight still get their verdicts (thread- and signal-safe)."""
        self._stop.set()
        runtime = self._runtime
        if runtime is not None:
            runtime.stop()

    # --- running -------------------------------------------------------------------------------

    def warmup(self) -> None:
        """Run the model on a blank frame so the first real part is not many times slower."""
        assert self.detector is not None
        blank = Frame(np.zeros((480, 640, 3), np.uint8), "warmup", 0, time.time())
        self.detector.warmup(blank)
        self._warm = True

    def run(self, max_parts: int | None = None, read_timeout_s: float = 1.0) -> RunSummary:
        """Inspect parts until every camera ends, `max_parts` is reached or `stop()` is called.

        Stages run concurrently (see `inspection.runtime`); `stop()` drains the parts in flight."""
        assert self.detector is not None and self.output is not None
        if not self._warm:
            self.warmup()  # the first frames of a cold model are many times slower: not on the line
        summary = RunSummary()
        self._stop.clear()
        sources = [SourceSpec(c, can_wait=_can_wait(c)) for c in self.cameras]
        options = RuntimeOptions(**{**self.runtime_options.__dict__, "read_timeout_s": read_timeout_s})
        self._runtime = Runtime(sources, self.detector, self.judge, self.output, self.store, self.listeners,
                                model_id=self.detector.model_id, options=options, stats=self.stats,
                                alarm=self._alarm, recorded=self._recorded)
        try:
            if self._stop.is_set():  # stop() raced with start-up
                self._runtime.stop()
            self._runtime.run(summary, max_parts)
        finally:
            self._runtime = None
        summary.stage_stats = self.stats.snapshot()
        return summary

    def inspect(self, item: Frame | FrameFailure, acquire_ms: float = 0.0) -> Inspection:
        """Detect and judge one part. Never raises for a bad part: it gets the fail-safe verdict."""
        assert self.detector is not None
        received = time.perf_counter()
        if isinstance(item, FrameFailure):
            verdict = self.judge.failsafe(item.code, item.message)
            return Inspection(item, (), verdict, (), StageTimings(acquire_ms=acquire_ms),
                              self.recipe.name, self.detector.model_id)
        try:
            out = self.detector.detect(item)
            t_judge = time.perf_counter()
            judgement = self.judge.judge(out.detections)
            judge_ms = (time.perf_counter() - t_judge) * 1000.0
        except Exception as exc:  # a model failure must not pass the part
            log.exception("inspection of %s failed", item.key)
            verdict = self.judge.failsafe("inspection_error", f"{type(exc).__name__}: {exc}")
            return Inspection(item, (), verdict, (), StageTimings(acquire_ms=acquire_ms),
                              self.recipe.name, self.detector.model_id)
        latency = (time.perf_counter() - received) * 1000.0 + acquire_ms
        timings = StageTimings(acquire_ms, out.preprocess_ms, out.infer_ms, out.postprocess_ms, judge_ms,
                               0.0, latency)
        verdict = judgement.verdict
        if latency > self.recipe.deadline_ms:
            verdict = self.judge.failsafe("deadline", f"verdict after {latency:.0f} ms > deadline "
                                          f"{self.recipe.deadline_ms:.0f} ms")
        return Inspection(item, out.detections, verdict, judgement.defects, timings, self.recipe.name,
                          self.detector.model_id, heatmap=out.heatmap)

    def _recorded(self, inspection: Inspection, row_id: int) -> None:
        """On the recorder thread, after the verdict is logged: telemetry (without process feedback), and keep
        the part for review if the policy wants it."""
        if self._telemetry_feed is not None:
            try:
                self._telemetry_feed(inspection)
            except Exception:  # telemetry must never stop the recorder that logs verdicts
                log.exception("telemetry failed for %s", inspection.frame.key)
        if self.samples is not None:
            try:
                self.samples.consider(inspection, row_id)
            except StoreError as exc:
                self._alarm("samples_write_failed", str(exc))
            except Exception:  # sampling must never stop the recorder that logs verdicts
                log.exception("sample policy failed for %s", inspection.frame.key)

    def _alarm(self, kind: str, message: str) -> None:
        log.error("%s: %s", kind, message)
        if self.feedback is not None:  # the controller must not steer the process on doubtful verdicts
            self.feedback.controller.raise_alarm(kind)
        if self.telemetry is not None:
            self.telemetry.alarm(kind, message)
        if self.store is not None:
            try:
                self.store.event("alarm", kind, message)
            except StoreError:
                log.error("could not log alarm %s", kind)


def _can_wait(camera: Camera) -> bool:
    """A replay played as fast as possible can wait for the station (back-pressure); a live camera, a
    replay at `rate_hz` or a recording at its recorded timing cannot: overflow there is fail-safe."""
    if not isinstance(camera, ReplayCamera) or camera.options.rate_hz is not None:
        return False
    is_recording = getattr(camera, "_recording", None) is not None
    return not (is_recording and getattr(camera.options, "timing", None) != "rate")


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        log.exception("error while closing")


