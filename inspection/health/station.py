"""Health in the running station: a pipeline listener that computes the signals of every inspected part,
feeds the monitor, logs samples and warnings, and hands snapshots to telemetry.

It runs on the station's listener thread (latest-only queue), never on the verdict path: under load it
sees fewer parts, and the verdicts never wait for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inspection.config import HealthSection
from inspection.domain.recipe import Recipe
from inspection.domain.types import Frame, Inspection
from inspection.errors import StoreError
from inspection.health.baseline import Baseline
from inspection.health.kinds import HealthWarning
from inspection.health.monitor import HealthConfig, HealthMonitor
from inspection.health.probe import Probe, poll_probes
from inspection.health.settings import monitor_config, signal_specs
from inspection.health.signals import SIGNALS, SignalSpec, inspection_signals, roi_box, station_signals
from inspection.health.store import HealthLog

__all__ = ["HealthListener", "baseline_from_store", "open_station_health", "set_baseline_as"]

log = logging.getLogger(__name__)


class HealthListener:
    """Append to `Station.listeners` (or the console runner's). `publish` gets the snapshot every
    `publish_every` parts and each warning (e.g. the telemetry's MQTT topic / OPC UA nodes). `probes`
    (`inspection.health.probe`) are polled with CPU and disk every `station_every` parts."""

    def __init__(self, monitor: HealthMonitor | None = None, health_log: HealthLog | None = None,
                 recipe: Recipe | None = None, *, sample_every: int = 10, station_every: int = 100,
                 publish_every: int = 25, disk_path: str | os.PathLike[str] = ".",
                 publish: Callable[[str, Any], None] | None = None, probes: Sequence[Probe] = (),
                 config: HealthConfig | None = None, specs: Mapping[str, SignalSpec] | None = None) -> None:
        self.log = health_log
        baseline = None
        if health_log is not None:
            try:
                baseline = health_log.load_baseline()
            except (StoreError, ValueError) as exc:
                log.warning("health baseline not loaded (%s): learning a new one", exc)
        self.monitor = monitor or HealthMonitor(config or HealthConfig(), baseline,
                                                SIGNALS if specs is None else specs)
        self.monitor.on_warning = self._warned
        self.include = recipe.roi.include if recipe is not None else None
        self.sample_every, self.station_every, self.publish_every = sample_every, station_every, publish_every
        self.disk_path = disk_path
        self.publish = publish
        self.probes = list(probes)
        self._failed_probes: set[int] = set()
        self._box: tuple[int, int, int, int] | None = None
        self._shape: tuple[int, ...] | None = None
        self._last_ts: float | None = None
        self._period = None  # EWMA of the frame interval (s)
        self._station: dict[str, float] = {}
        self._was_learning = self.monitor.learning

    def __call__(self, inspection: Inspection) -> None:
        frame = inspection.frame
        box = None
        if isinstance(frame, Frame):
            if frame.image.shape != self._shape:
                self._shape = frame.image.shape
                self._box = roi_box(self.include, frame.image.shape)
            box = self._box
        period = self._period
        values = inspection_signals(inspection, box, self._last_ts, period)
        if self._last_ts is not None:
            dt = frame.timestamp_s - self._last_ts
            if dt > 0:
                self._period = dt if period is None else period + 0.05 * (dt - period)
        self._last_ts = frame.timestamp_s
        n = self.monitor.parts
        if n % self.station_every == 0:
            try:
                station = station_signals(self.disk_path)
            except OSError as exc:
                log.warning("station signals: %s", exc)
                station = {}
            # Replaced, not merged: a signal a probe no longer has (camera reconnecting) goes absent.
            self._station = {**station, **poll_probes(self.probes, self._failed_probes)}
        values.update(self._station)
        self.monitor.update(values, part=n, timestamp_s=frame.timestamp_s)
        if self.log is not None and self.monitor.learning is False and self._was_learning:
            self._save_learned()
        self._was_learning = self.monitor.learning
        if self.log is not None and n % self.sample_every == 0:
            smoothed = {s.name: s.smoothed for s in self.monitor.states() if s.smoothed is not None}
            try:
                self.log.record_sample(n, values, smoothed, self.monitor.snapshot()["state"], frame.timestamp_s)
            except StoreError as exc:  # a gap in the trend; the verdicts have their own spool
                log.warning("health sample not logged: %s", exc)
        if self.publish is not None and n % self.publish_every == 0:
            self.publish("health", self.monitor.snapshot())

    def set_baseline(self, set_by: str = "", parts: int | None = None,
                     note: str = "set at a known-good time") -> Baseline:
        """Learn a baseline from the recent parts, put it in force and persist it (who set it is audited)."""
        baseline = self.monitor.set_baseline(parts=parts, note=note)
        if self.log is not None:
            self.log.save_baseline(baseline, set_by)
        return baseline

    def _save_learned(self) -> None:
        assert self.monitor.baseline is not None and self.log is not None
        try:
            self.log.save_baseline(self.monitor.baseline, "station (start-up)")
        except StoreError as exc:
            log.error("learned health baseline not saved: %s", exc)

    def _warned(self, warning: HealthWarning) -> None:
        log.warning("%s", warning.message)
        if self.log is not None:
            try:
                self.log.record_warning(warning)
            except StoreError as exc:
                log.error("health warning not logged: %s", exc)
        if self.publish is not None:
            self.publish("health_warnings", warning.as_dict())


def baseline_from_store(store: Any, parts: int = 500, set_by: str = "",
                        note: str = "set from the stored health samples") -> Baseline:
    """Learn a baseline from the last `parts` health samples in the store and put it in force (the CLI's
    route, and the console's when no line is running; a station loads it at its next start)."""
    health_log = HealthLog(store)
    baseline = Baseline.fit(health_log.samples(parts), note=note)
    health_log.save_baseline(baseline, set_by)
    return baseline


def set_baseline_as(ops: Any, user: Any, listener: HealthListener | None = None) -> Baseline:
    """The console's "set baseline" decision: role `configure` checked and audited in the core, then the
    baseline is learned from the running line's recent parts (or, with no line running, from the stored
    samples) and persisted."""
    ops.authorize(user, "configure", {"health_baseline": "set at a known-good time"})
    if listener is not None:
        return listener.set_baseline(set_by=user.username)
    return baseline_from_store(ops.store, set_by=user.username)


def open_station_health(store: Any, recipe: Recipe, telemetry: Any = None,
                        disk_path: str | os.PathLike[str] = ".", section: HealthSection | None = None,
                        probes: Sequence[Probe] = (), source: str | Path | None = None) -> HealthListener:
    """The health listener of a station: its tables in the station's store, its baseline loaded from there,
    and, with `telemetry:`, its snapshot and warnings on the telemetry state (MQTT topics `health` and
    `health_warnings`, OPC UA nodes `Station.Health.*`). `section` is the station YAML's `health:` (its
    limits are checked against the catalogue here: ConfigError naming `source`); `probes` are the
    components' `health_signals` (PLC output, telemetry sinks, cameras, the runtime's queues)."""
    section = section or HealthSection()
    specs = signal_specs(section, source)
    publish = None
    if telemetry is not None:
        def publish(topic: str, payload: Any) -> None:
            if topic == "health":
                telemetry.set_health(payload)
            else:
                telemetry.health_warning(payload)
    return HealthListener(health_log=HealthLog(store), recipe=recipe, sample_every=section.sample_every,
                          station_every=section.station_every, publish_every=section.publish_every,
                          disk_path=disk_path, publish=publish, probes=probes, config=monitor_config(section),
                          specs=specs)
