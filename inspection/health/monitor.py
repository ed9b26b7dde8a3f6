"""The health monitor: per part it takes the signals, tracks each against its baseline with drift
detectors and a forecast, and raises warnings (drifting) and alarms (past the limit) with the likely
cause and the action.

Rules it keeps:
- Before a baseline exists it learns: the first `learn_parts` parts become the baseline (the station
  assumes it starts in good health; set a new baseline at a known-good time to correct that).
- A drift-watched signal warns when its EWMA of z-values leaves the control band, or its CUSUM signals,
  for `persist` parts in a row, in a direction that is bad for it. Signals that wander legitimately (CPU,
  disk) warn at 60 % of the way to their limit instead. Any signal alarms when its smoothed value is past
  its limit for `persist` parts.
- A warning is raised once per episode; the signal returns to OK after `clear_after` quiet parts.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inspection.health.baseline import Baseline, SignalBaseline
from inspection.health.drift import Cusum, Ewma, PsiWindow, ewma_limit
from inspection.health.forecast import parts_to_limit
from inspection.health.kinds import HealthKind, HealthWarning, Severity
from inspection.health.signals import SIGNALS, SignalSpec

__all__ = ["HealthConfig", "HealthMonitor", "SignalState"]


@dataclass(frozen=True)
class HealthConfig:
    lam: float = 0.03  # EWMA weight of one part
    width: float = 5.0  # EWMA control band in σ of the EWMA
    cusum_k: float = 0.5
    cusum_h: float = 12.0
    clip: float = 4.0  # |z| cap: one odd part moves nothing much
    persist: int = 10  # parts in a row beyond a limit before it counts
    clear_after: int = 200  # quiet parts before a signal is OK again
    learn_parts: int = 400
    history_every: int = 10  # one trend point per this many parts
    history_len: int = 500  # trend points kept for charts
    forecast_points: int = 25  # trend points the forecast fits (250 parts)
    psi_window: int = 500
    alarm_margin: float = 1.5  # a limit lies at least this many drift bands from the baseline
    warn_fraction: float = 0.6  # signals without drift detection warn this far from baseline to limit


@dataclass
class SignalState:
    """What the console and telemetry show for one signal."""

    name: str
    title: str
    unit: str
    value: float | None = None  # last raw value
    smoothed: float | None = None  # EWMA in the signal's unit
    baseline: float | None = None
    low_limit: float | None = None
    high_limit: float | None = None
    severity: Severity | None = None
    kind: HealthKind | None = None
    parts_to_limit: float | None = None
    seconds_to_limit: float | None = None
    history: list[tuple[int, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "unit": self.unit, "value": self.value,
                "smoothed": self.smoothed, "baseline": self.baseline, "low_limit": self.low_limit,
                "high_limit": self.high_limit, "state": self.severity.value if self.severity else "ok",
                "kind": self.kind.value if self.kind else None, "parts_to_limit": self.parts_to_limit,
                "seconds_to_limit": self.seconds_to_limit}


class _Tracker:
    def __init__(self, spec: SignalSpec, base: SignalBaseline, config: HealthConfig) -> None:
        self.spec, self.base, self.config = spec, base, config
        lam = spec.lam or config.lam
        # The smoothed value settles on the mean, not the median: limits sit around the same centre, or a
        # skewed signal (colour) would look shifted on good parts.
        self.centre = base.value if spec.log or not spec.drift else base.mean
        self.z = Ewma(lam)
        self.smoothed = Ewma(lam, self.centre)
        self.cusum = Cusum(config.cusum_k, config.cusum_h)
        self.band = ewma_limit(lam, config.width)
        self.low, self.high = self._limits()
        self.value: float | None = None
        self.n = 0
        self.run = 0  # consecutive bad updates (warning side)
        self.alarm_run = 0
        self.quiet = 0
        self.severity: Severity | None = None
        self.kind: HealthKind | None = None
        self.history: deque[tuple[int, float]] = deque(maxlen=config.history_len)

    def _limits(self) -> tuple[float | None, float | None]:
        """The spec's limits, widened where the parts themselves vary more: a limit inside the smoothed
        signal's own spread would alarm on good parts (and the drift warning must come first)."""
        low, high = self.spec.limits(self.centre)
        if not self.spec.drift:
            return low, high
        reach = self.config.alarm_margin * self.band * self.base.std
        if self.spec.log:
            lo_min, hi_min = self.centre * math.exp(-reach), self.centre * math.exp(reach)
        else:
            lo_min, hi_min = self.centre - reach, self.centre + reach
        return (None if low is None else min(low, lo_min)), (None if high is None else max(high, hi_min))

    def update(self, x: float, part: int) -> tuple[Severity, HealthKind] | None:
        """Feed one value; returns (severity, kind) when the signal escalates."""
        self.value = x
        self.n += 1
        level = self.smoothed.update(x)
        if self.n % self.config.history_every == 0:
            self.history.append((part, level))
        side = self._drift_side(x, level)
        past = self._past_limit(level)
        kind = (self.spec.high if side > 0 else self.spec.low) if side else None
        self.run = self.run + 1 if kind is not None else 0
        self.alarm_run = self.alarm_run + 1 if past is not None else 0
        if past is not None and self.alarm_run >= self.config.persist and self.severity is not Severity.ALARM:
            self.severity, self.kind, self.quiet = Severity.ALARM, past, 0
            return self.severity, past
        if kind is not None and self.run >= self.config.persist and self.severity is None:
            self.severity, self.kind, self.quiet = Severity.WARNING, kind, 0
            return self.severity, kind
        if kind is None and past is None and self.severity is not None:
            self.quiet += 1
            if self.quiet >= self.config.clear_after:
                self.severity = self.kind = None
                self.cusum.reset()
        return None

    def _drift_side(self, x: float, level: float) -> int:
        if self.spec.drift:
            z = self.base.z(self.spec, x, self.config.clip)
            zl = self.z.update(z)
            side = self.cusum.update(z)
            if zl > self.band:
                return 1
            if zl < -self.band:
                return -1
            return side
        frac = self.config.warn_fraction
        if self.high is not None and level >= self.centre + frac * (self.high - self.centre):
            return 1
        if self.low is not None and level <= self.centre - frac * (self.centre - self.low):
            return -1
        return 0

    def _past_limit(self, level: float) -> HealthKind | None:
        if self.high is not None and level >= self.high:
            return self.spec.high
        if self.low is not None and level <= self.low:
            return self.spec.low
        return None

    def forecast(self) -> float | None:
        points = list(self.history)[-self.config.forecast_points:]
        if len(points) < 8:
            return None
        return parts_to_limit([p for p, _ in points], [v for _, v in points], self.low, self.high)


class HealthMonitor:
    """Tracks every signal it is given. Thread-safe: the station's listener thread updates, the console reads."""

    def __init__(self, config: HealthConfig | None = None, baseline: Baseline | None = None,
                 specs: Mapping[str, SignalSpec] = SIGNALS,
                 on_warning: Callable[[HealthWarning], None] | None = None) -> None:
        self.config = config or HealthConfig()
        self.specs = dict(specs)
        self.on_warning = on_warning
        self._lock = threading.RLock()
        self._recent: deque[dict[str, float]] = deque(maxlen=max(self.config.learn_parts, 2000))
        self._trackers: dict[str, _Tracker] = {}
        self._psi: PsiWindow | None = None
        self.baseline: Baseline | None = None
        self.parts = 0
        self.warnings: list[HealthWarning] = []
        self._rate = Ewma(0.05)  # parts per second
        self._last_ts: float | None = None
        if baseline is not None:
            self.set_baseline(baseline)

    @property
    def learning(self) -> bool:
        return self.baseline is None

    def set_baseline(self, baseline: Baseline | None = None, parts: int | None = None, note: str = "") -> Baseline:
        """Use `baseline`, or learn one from the last `parts` parts seen (default: all kept, up to 2000)."""
        with self._lock:
            if baseline is None:
                recent = list(self._recent)[-(parts or len(self._recent)):]
                baseline = Baseline.fit(recent, self.specs, note=note)
            self.baseline = baseline
            self._trackers = {name: _Tracker(self.specs[name], base, self.config)
                              for name, base in baseline.signals.items() if name in self.specs}
            self._psi = None
            if len(baseline.psi_reference) >= 50 and "confidence_psi" in self.specs:
                self._psi = PsiWindow(baseline.psi_reference, self.config.psi_window)
                self._trackers["confidence_psi"] = _Tracker(self.specs["confidence_psi"],
                                                            SignalBaseline(0.0, 0.0, 1.0, 0), self.config)
            return baseline

    def update(self, values: Mapping[str, float], part: int | None = None,
               timestamp_s: float | None = None) -> list[HealthWarning]:
        """One part's signals; returns the warnings and alarms this part raised."""
        with self._lock:
            index = self.parts if part is None else part
            self.parts += 1
            ts = time.time() if timestamp_s is None else timestamp_s
            if self._last_ts is not None and ts > self._last_ts:
                self._rate.update(1.0 / (ts - self._last_ts))
            self._last_ts = ts
            self._recent.append(dict(values))
            if self.baseline is None:
                if len(self._recent) >= self.config.learn_parts:
                    self.set_baseline(note="learned at start-up")
                return []
            values = dict(values)
            if self._psi is not None and "top_confidence" in values:
                psi_value = self._psi.update(values["top_confidence"])
                if psi_value is not None:
                    values["confidence_psi"] = psi_value
            raised = []
            for name, x in values.items():
                tracker = self._trackers.get(name)
                if tracker is None:
                    continue
                event = tracker.update(float(x), index)
                if event is not None:
                    severity, kind = event[0], self._explain(name, event[1])
                    raised.append(HealthWarning(kind, severity, name, index, tracker.smoothed.value,
                                                tracker.centre, self._limit_for(tracker, kind),
                                                tracker.forecast(), ts))
            self.warnings.extend(raised)
        for warning in raised:
            if self.on_warning is not None:
                self.on_warning(warning)
        return raised

    def _explain(self, name: str, kind: HealthKind) -> HealthKind:
        """A falling Laplacian variance also follows a dimming light (it scales with gain squared): when
        the brightness is down as well, the light is the likelier cause than the lens; contrast falling
        while the focus is already flagged is the blur."""
        if name in ("sharpness", "contrast") and kind in (HealthKind.FOCUS, HealthKind.LIGHT):
            light = self._trackers.get("brightness")
            if light is not None and light.z.value < -0.5 * light.band:
                return HealthKind.LIGHT
            sharp = self._trackers.get("sharpness")
            if name == "sharpness" or (sharp is not None and sharp.kind is HealthKind.FOCUS):
                return HealthKind.FOCUS  # contrast falling after a focus warning: the blur, not the light
        return kind

    @staticmethod
    def _limit_for(tracker: _Tracker, kind: HealthKind) -> float:
        """The limit on the side the signal has moved to (both sides may mean the same kind)."""
        rising = tracker.smoothed.value >= tracker.centre
        if tracker.high is not None and (rising or tracker.low is None):
            return tracker.high
        return tracker.low if tracker.low is not None else float("nan")

    @property
    def parts_per_s(self) -> float:
        return self._rate.value

    def states(self) -> list[SignalState]:
        """Per tracked signal: value, smoothed level, baseline, limits, state, forecast and trend history."""
        with self._lock:
            out = []
            for name, t in self._trackers.items():
                if t.n == 0:
                    continue
                ptl = t.forecast()
                rate = self._rate.value
                out.append(SignalState(
                    name, t.spec.title, t.spec.unit, t.value, t.smoothed.value, t.centre, t.low, t.high,
                    t.severity, t.kind, ptl, (ptl / rate if ptl is not None and rate > 0 else None),
                    list(t.history)))
            return out

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary (MQTT payload, OPC UA values): overall state and each signal."""
        states = self.states()
        worst = "ok"
        if any(s.severity is Severity.ALARM for s in states):
            worst = "alarm"
        elif any(s.severity is Severity.WARNING for s in states):
            worst = "warning"
        return {"state": "learning" if self.learning else worst, "parts": self.parts,
                "baseline_set_at_s": self.baseline.set_at_s if self.baseline else None,
                "signals": {s.name: s.as_dict() for s in states}}
