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
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inspection.adapters.registry import create_adapter
from inspection.aoi.part_align import align_part
from inspection.camera import Camera
from inspection.camera.replay import ReplayCamera
from inspection.config import StationConfig
from inspection.domain.codes import AlarmBoard, AlarmKind
from inspection.domain.judge import Judge
from inspection.domain.measure import scales_for
from inspection.domain.recipe import Recipe, load_recipe
from inspection.domain.types import Frame, FrameFailure, Inspection
from inspection.errors import ConfigError, DataError, ModelError, StationError, StoreError
from inspection.inference import Detector, create_detector
from inspection.models.registry import ModelRegistry
from inspection.outputs import RejectOutput
from inspection.records.samples import SampleKeeper
from inspection.records.store import ImageArchive, Store
from inspection.runtime import Runtime, RuntimeOptions, SourceSpec, StageStats
from inspection.runtime.stats import RunSummary
from inspection.runtime.verdicts import failsafe_inspection, judged_inspection, timed_judgement
from inspection.security.inputs import check_lot

__all__ = ["Station"]

log = logging.getLogger(__name__)
Listener = Callable[[Inspection], None]


class Station:
    """Owns every adapter of one configured station. Use as a context manager."""

    def __init__(self, config: StationConfig, recipe: Recipe | None = None, db_path: Path | None = None) -> None:
        self.config = config
        self.recipe = recipe or load_recipe(config.recipe)
        self.judge = self._judge_for(self.recipe)  # a recipe in mm refuses to start without a valid calibration
        self.db_path = db_path or config.db_path
        self.cameras: list[Camera] = []
        self.detector: Detector | None = None
        self.output: RejectOutput | None = None
        self.store: Store | None = None
        self.listeners: list[Listener] = []
        self.samples: SampleKeeper | None = None
        self.feedback: Any = None  # inspection.runtime.feedback.StationFeedback when `process:` is set
        self.telemetry: Any = None  # inspection.telemetry.TelemetryState when `telemetry:` is set
        self.telemetry_sinks: list[Any] = []  # MQTT client, OPC UA server… (see inspection.registry "telemetry")
        self._telemetry_feed: Any = None
        self.replicator: Any = None  # inspection.central.replicator.Replicator when `central:` is set
        self.active_alarms: dict[str, str] = {}  # telemetry/camera kind → message (the rest is on self.alarms)
        self.health: Any = None  # inspection.health.station.HealthListener: the station watches its own eyes
        self._stop = threading.Event()
        self.runtime_options = RuntimeOptions()
        self.stats = StageStats()  # rolling per-stage percentiles and fail-safe counters, across runs
        self._runtime: Runtime | None = None
        self._warm = False
        self._started = False  # station_started logged: close() logs station_closed
        self._hub_replaced: tuple[str, str] | None = None  # (cached, pulled) when MLflow's model replaced ours
        self.alarms = AlarmBoard()  # one active alarm per kind and source, with a count
        self._pending_events: deque[tuple[str, str, str, dict[str, Any] | None]] = deque(maxlen=1000)
        self._events_lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------------

    def open(self) -> Station:
        options = self.config.store
        cap = int(options.archive_max_gb * 1e9) if options.archive_max_gb else None
        try:
            self.store = Store(self.db_path, ImageArchive(
                self.config.archive_dir, options.keep_images, options.sample_every, options.image_format,
                options.min_free_mb, cap), timeout_s=options.busy_timeout_s)
            self.store.alarm_hook = self._archive_alarm
            if self.store.archive is not None:
                self.store.archive.sweep_temp()  # what a killed station left half-written
            model_path = self._model_path()
            self._check_model_trust(getattr(self.config.detector, "model", None) or model_path)
            self.detector = create_detector(self.config.detector, self.recipe, model_path)
            try:
                self.recipe.check_classes(self.detector.class_names, self.detector.model_id)
            except ConfigError as exc:
                if self._hub_replaced is None:
                    raise
                self._back_to_cached_model(exc)
            self.output = create_adapter("output", self.config.output, alarm=self._alarm,
                                         job_change=self.change_job, db_path=self.db_path)
            listeners = getattr(self.output, "alarm_listeners", None)  # PLC outputs say when an alarm clears
            if isinstance(listeners, list):
                listeners.append(lambda kind, message, active: None if active else
                                 self._clear_alarm(kind, "", f"cleared (was: {message})"))
            if self.recipe.views is not None:  # one result per part from its views (inspection/domain/multiview.py)
                from inspection.domain.multiview import MultiViewOutput

                self.output = MultiViewOutput(self.output, self.recipe.views)
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
                from inspection.runtime.feedback import open_station_feedback  # only with `process:`

                self.feedback = open_station_feedback(self.config.process, self.detector, self.store or self.db_path,
                                              twin=getattr(self.cameras[0], "twin", None),
                                              telemetry=self.telemetry)
                self.listeners.append(self.feedback)
            elif self.telemetry is not None:
                # Without process feedback telemetry is fed where each verdict is logged (every part, in
                # order), so the published counts equal the verdicts in the store.
                from inspection.telemetry import TelemetryFeed

                self._telemetry_feed = TelemetryFeed(self.telemetry)
            if self.config.health.enabled:
                self._open_health()
            self._note_unclean_end()
            self.store.event("info", "station_started", f"recipe {self.recipe.name}, model {self.detector.model_id}")
            self._started = True
            if self.config.central is not None:
                from inspection.central.replicator import Replicator  # only with `central:` (psycopg)

                self.replicator = Replicator(self.config.central, self.db_path, self.config.name,
                                             event=self._telemetry_event, status=self._central_status).start()
        except BaseException:
            self.close()
            raise
        return self

    def _note_unclean_end(self) -> None:
        """A start whose last session in this log has no `station_closed` after its `station_started` was
        killed (kill -9, power loss, a crash): say so in the log, since verdicts it held in memory are missing."""
        last = self.store.query("select kind, time from events where kind in ('station_started', 'station_closed') "
                                "order by id desc limit 1")
        if last and last[0]["kind"] == "station_started":
            message = (f"the session started {last[0]['time']} ended without closing (killed, power loss or a "
                       "crash): verdicts it still held in memory are not in this log; the PLC had them, so "
                       "compare its part count (outputs.sequence) with the parts logged")
            log.warning("%s: %s", self.store.path, message)
            self.store.event("alarm", AlarmKind.UNCLEAN_SHUTDOWN.value, message)

    def _open_health(self) -> None:
        """The health listener, polling the components' health probes (PLC output, telemetry sinks, cameras,
        the runtime's queues) every `health.station_every` parts on the listener thread."""
        from inspection.health.probe import probes_of
        from inspection.health.station import open_station_health

        assert self.store is not None
        components = [self.output, getattr(self.output, "inner", None), *self.telemetry_sinks, *self.cameras]
        probes = [*probes_of(c for c in components if c is not None), self._runtime_health]
        self.health = open_station_health(self.store, self.recipe, self.telemetry, self.db_path.parent,
                                          self.config.health, probes, self.config.source_file)
        self.listeners.append(self.health)

    def _runtime_health(self) -> dict[str, float]:
        runtime = self._runtime  # one read: run() sets it back to None when the run ends
        return runtime.health_signals() if runtime is not None else {}

    def _open_telemetry(self) -> None:
        """The telemetry state and its sinks (`telemetry:`); a sink never blocks on its peer here."""
        from inspection.telemetry import TelemetryState  # only with `telemetry:`

        assert self.detector is not None
        self.telemetry = TelemetryState(self.detector.class_names, source=f"inspection-station/{self.config.name}")
        from inspection.security.audit_chain import HeadReader

        self._audit_head = HeadReader(self.db_path)
        self.telemetry.audit_head = self._audit_head
        for options in self.config.telemetry:
            sink = create_adapter("telemetry", options, state=self.telemetry, station=self.config.name,
                                  event=self._telemetry_event, db_path=self.db_path)
            sink.open()
            self.telemetry_sinks.append(sink)

    def _telemetry_event(self, level: str, kind: str, message: str) -> None:
        """A telemetry sink lost or regained its peer: logged in the store and shown in the telemetry's own
        alarms. It does not freeze the process controller: the verdicts are not in doubt."""
        self._note_alarm(kind, message if level == "alarm" else None)
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

    def _check_model_trust(self, path: Path | None) -> None:
        """With `security.model_trust_store`, refuse a model not signed by a trusted key (before it is read)."""
        trust = self.config.security.model_trust_store
        if trust is not None and path is not None:
            from inspection.security.signing import require_trusted

            require_trusted(Path(path), trust)

    def _note_alarm(self, kind: str, message: str | None) -> None:
        """Active alarms (None clears), read by the central replicator's heartbeat from its thread."""
        alarms = dict(self.active_alarms)
        if message is None:
            alarms.pop(kind, None)
        else:
            alarms[kind] = message
        self.active_alarms = alarms  # one reference swap: a reader never sees a dict being changed

    def _central_status(self) -> dict[str, Any]:
        detector = self.detector
        alarms = dict(self.active_alarms) | {str(a.kind): a.message for a in self.alarms.active()}
        return {"model_id": detector.model_id if detector is not None else None, "recipe": self.recipe.name,
                "alarms": alarms}

    def _model_path(self) -> Path | None:
        """The recipe's model file, or its product's production model from the registry (hash verified)."""
        if self.recipe.registry_product is None:
            return self.recipe.model
        registry = ModelRegistry(self.config.registry_dir)
        try:
            if self.config.model_hub is not None:
                self._pull_from_model_hub(registry, self.recipe.registry_product)
            return registry.production_path(self.recipe.registry_product)
        finally:
            registry.close()

    def _judge_for(self, recipe: Recipe) -> Judge:
        cameras = [str(getattr(c, "id", "")) for c in self.config.cameras]
        return Judge(recipe, scales_for(recipe, cameras, self.config.calibrations_dir), align=align_part)

    def _pull_from_model_hub(self, registry: ModelRegistry, product: str) -> None:
        """At start only: the line's production model from MLflow into the local registry (verified). MLflow
        away: the cached production model runs, and the station says so."""
        from inspection.central.model_hub import ModelHubUnavailable, pull_production  # only with `model_hub:`

        assert self.config.model_hub is not None and self.store is not None
        cached_before = registry.production(product)
        try:
            record = pull_production(self.config.model_hub, registry, product, f"station {self.config.name}",
                                     trust_store=self.config.security.model_trust_store)
        except ModelError as exc:  # MLflow away, or its version refused (hash, signature): the cached model runs
            cached = registry.production(product)
            if cached is None:
                hint = ("start the station once with MLflow reachable, or `station models pull`"
                        if isinstance(exc, ModelHubUnavailable) else "publish a model this station accepts")
                raise ModelError(f"{exc}; and no cached production model of {product} in {registry.root}: "
                                 f"{hint}") from None
            self.store.event("alarm", "model_hub", f"{exc}; running the cached production model {cached.id}")
            return
        self.store.event("info", "model_hub", f"production model of {product} from MLflow: {record.id} "
                         f"({record.command})")
        if cached_before is not None and cached_before.id != record.id:
            self._hub_replaced = (cached_before.id, record.id)

    def _back_to_cached_model(self, refusal: ConfigError) -> None:
        """MLflow's production model does not fit this station's recipe (other classes): the line's hub is
        wrong for this station, its cached model is not. Put the cached one back and run it, with an alarm."""
        assert self._hub_replaced is not None and self.store is not None and self.detector is not None
        cached, pulled = self._hub_replaced
        product = self.recipe.registry_product
        assert product is not None
        _quietly(self.detector.close)
        registry = ModelRegistry(self.config.registry_dir)
        try:
            registry.rollback(product, f"station {self.config.name} (MLflow model does not fit the recipe)")
            model_path = registry.production_path(product)
        finally:
            registry.close()
        self.store.event("alarm", "model_hub", f"{pulled} from MLflow does not fit recipe {self.recipe.name} "
                         f"({refusal}); running the cached production model {cached}")
        self.detector = create_detector(self.config.detector, self.recipe, model_path)
        self.recipe.check_classes(self.detector.class_names, self.detector.model_id)

    def reload_model(self) -> str:
        """Explicit reload between runs: the recipe's model again (with `model_hub:`, the line's production
        model from MLflow, verified). Refused while parts are being inspected — never mid-part. Returns the
        model id now loaded."""
        if self._runtime is not None:
            raise StationError("the station is inspecting: stop the line, then reload the model")
        assert self.detector is not None
        detector = create_detector(self.config.detector, self.recipe, self._model_path())
        try:
            self.recipe.check_classes(detector.class_names, detector.model_id)
            if tuple(detector.class_names) != tuple(self.detector.class_names):  # telemetry, SPC, feedback
                raise ModelError(f"{detector.model_id} has other classes than {self.detector.model_id}: "
                                 "restart the station to run it")
        except Exception:
            _quietly(detector.close)
            raise
        old, self.detector, self._warm = self.detector, detector, False
        _quietly(old.close)
        if self.store is not None:
            self.store.event("info", "model_reloaded", f"model {old.model_id} → {detector.model_id}")
        return str(detector.model_id)

    def change_job(self, job: int, lot: str | None = None) -> Recipe:
        """Switch to the recipe of PLC job `job` without stopping (raises to refuse; the PLC sees the error).

        Only recipes that run on the loaded model can be switched to live: a different model needs a restart."""
        if lot is not None:
            try:
                check_lot(lot)
            except DataError as exc:
                raise ConfigError(f"job {job}: {exc}") from None
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
        if recipe.views != self.recipe.views:  # how results are grouped for the PLC is set up at start
            raise ConfigError(f"job {job} ({path}) inspects {_views_text(recipe)} per part, the station "
                              f"runs {_views_text(self.recipe)}: stop the station and start it with that recipe")
        self.recipe, self.judge = recipe, self._judge_for(recipe)
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
        self._note_alarm(f"camera {event.camera_id}", event.message if level == "alarm" else None)
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
        if self.replicator is not None:  # before the store: one last cycle ships what is there
            _quietly(self.replicator.stop)
            self.replicator = None
        for sink in reversed(self.telemetry_sinks):  # before the store: a sink's last events are logged
            _quietly(sink.close)
        self.telemetry_sinks.clear()
        self.telemetry = self._telemetry_feed = None
        if getattr(self, "_audit_head", None) is not None:
            _quietly(self._audit_head.close)
            self._audit_head = None
        for camera in self.cameras:
            _quietly(camera.close)
        self.cameras.clear()
        if self.output is not None:
            _quietly(self.output.close)
        if self.detector is not None:
            _quietly(self.detector.close)
        if self.store is not None:
            if self._started:  # the mark the next start looks for (see _note_unclean_end)
                _quietly(lambda: self.store.event("info", "station_closed", "closed in order"))
                self._started = False
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
        for alarm in self.alarms.active():  # the runtime's alarms belong to a run; a new run judges afresh
            if alarm.source not in ("", "archive") or alarm.kind == AlarmKind.SAFE_STOP:
                self._clear_alarm(alarm.kind, alarm.source, "a new run starts")
        sources = [SourceSpec(c, can_wait=_can_wait(c)) for c in self.cameras]
        options = RuntimeOptions(**{**self.runtime_options.__dict__, "read_timeout_s": read_timeout_s,
                                    "spool_size": self.config.store.spool_size})
        self._runtime = Runtime(sources, self.detector, self.judge, self.output, self.store, self.listeners,
                                model_id=self.detector.model_id, options=options, stats=self.stats,
                                alarm=self._alarm, clear=self._clear_alarm, recorded=self._recorded)
        try:
            if self._stop.is_set():  # stop() raced with start-up
                self._runtime.stop()
            self._runtime.run(summary, max_parts)
            summary.fault = self._runtime.fault
            if self._pending_events:
                self._log_event("info", "events_replayed", "alarm events logged late: the database was unavailable",
                                None)
        finally:
            self._runtime = None
        summary.stage_stats = self.stats.snapshot()
        return summary

    def inspect(self, item: Frame | FrameFailure, acquire_ms: float = 0.0) -> Inspection:
        """Detect and judge one part. Never raises for a bad part: it gets the fail-safe verdict."""
        assert self.detector is not None
        received = time.perf_counter()
        model_id = self.detector.model_id
        judge = self.judge  # read once: one recipe judges and is recorded, whatever a job change does meanwhile
        if isinstance(item, FrameFailure):
            return failsafe_inspection(judge, item, item.code, item.message, model_id, acquire_ms)
        try:
            out = self.detector.detect(item)
            judgement, judge_ms = timed_judgement(judge, out, item)
        except Exception as exc:  # a model failure must not pass the part
            log.exception("inspection of %s failed", item.key)
            return failsafe_inspection(judge, item, "inspection_error", f"{type(exc).__name__}: {exc}",
                                       model_id, acquire_ms)
        latency = (time.perf_counter() - received) * 1000.0 + acquire_ms
        deadline_ms = judge.recipe.deadline_ms
        late = f"verdict after {latency:.0f} ms > deadline {deadline_ms:.0f} ms" if latency > deadline_ms else None
        return judged_inspection(judge, item, out, judgement, judge_ms, model_id, acquire_ms, late, latency)

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

    def _alarm(self, kind: str, message: str, source: str = "") -> None:
        """Raise an alarm. A repeat of an active (kind, source) only counts: one event, not a flood."""
        if not self.alarms.raise_alarm(kind, message, source):
            return
        log.error("%s: %s", kind, message, extra={"alarm_kind": str(kind)})
        if self.feedback is not None:  # the controller must not steer the process on doubtful verdicts
            self.feedback.controller.raise_alarm(kind)
        if self.telemetry is not None:
            self.telemetry.alarm(kind, message)
        self._log_event("alarm", kind, message, {"source": source} if source else None)

    def _clear_alarm(self, kind: str, source: str = "", message: str = "") -> None:
        """The cause cleared: log it once, with how often the alarm repeated and for how long."""
        folded = self.alarms.clear(kind, source)
        if folded is None:
            return
        log.warning("%s cleared: %s", kind, message)
        if self.feedback is not None and not any(a.kind == kind for a in self.alarms.active()):
            self.feedback.controller.clear_alarm(kind)  # the controller may steer again once nothing is in doubt
        if self.telemetry is not None:
            self.telemetry.clear_alarm(kind)
        self._log_event("info", f"{kind}_cleared", message or f"{kind} cleared",
                        {"source": source, "count": folded.count, "first_s": folded.first_s, "last_s": folded.last_s})

    def _log_event(self, level: str, kind: str, message: str, data: dict[str, Any] | None) -> None:
        """Alarm events wait (bounded, in order) while the database refuses them, like verdicts do."""
        if self.store is None:
            return
        with self._events_lock:
            self._pending_events.append((level, kind, message, data))
            try:
                while self._pending_events:
                    self.store.event(*self._pending_events[0])
                    self._pending_events.popleft()
            except StoreError:
                log.error("could not log %s %s yet (%d event(s) waiting for the database)", level, kind,
                          len(self._pending_events))

    def _archive_alarm(self, kind: str, message: str, active: bool) -> None:
        if active:
            self._alarm(kind, message, "archive")
        else:
            self._clear_alarm(kind, "archive", message)


def _can_wait(camera: Camera) -> bool:
    """A replay played as fast as possible can wait for the station (back-pressure); a live camera, a
    replay at `rate_hz` or a recording at its recorded timing cannot: overflow there is fail-safe."""
    if not isinstance(camera, ReplayCamera) or camera.options.rate_hz is not None:
        return False
    is_recording = getattr(camera, "_recording", None) is not None
    return not (is_recording and getattr(camera.options, "timing", None) != "rate")


def _views_text(recipe: Recipe) -> str:
    return "one view" if recipe.views is None else f"the views {', '.join(recipe.views.names)}"


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        log.exception("error while closing")


