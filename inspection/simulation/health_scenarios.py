"""Health scenarios on the process twin: degrade the twin's rendered images slowly and measure when the
health monitor warns and when defects start to escape because of the degradation.

Each part: the twin decides its defects (process at nominal, no process drift); the image is a fresh
render for a defective part, and for a good part a draw from a pool of rendered good parts (rendering
costs ~60 ms a part at 320x320; the pool keeps a 10 000-part run near a minute, and good parts cannot
escape). The scenario's degradation is applied to the image from part `onset` on, growing linearly:

- defocus: Gaussian blur, sigma rising;  dimming: gain falling;  shift: the camera drifting (translation,
  the uncovered border shows the dark fixture);  material: colour and surface texture changing;
- stable: nothing changes (counts false warnings).

Escapes are measured with the real shipped demo model and recipe judge: a defective part escapes because
of the degradation when the judge catches it (FAIL/REVIEW) on the clean image, still catches it on the
clean image nudged by one pixel in each direction (`JITTER_PX`, far inside the twin's own ±5 % pose
spread), and passes it on the degraded one; the model runs on both images of every defective part. A
part caught on the clean image but lost to a one-pixel nudge was never reliably caught: when the degraded
image loses it, that is counted as a *borderline flip*, reported beside the escapes, not as an escape the
health monitor should have foreseen. Model health signals (top confidence and its PSI, review rate) come
from the model's verdicts on every `model_every`-th part as well.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from inspection.domain.types import Frame, VerdictStatus
from inspection.health.kinds import HealthWarning
from inspection.health.monitor import HealthConfig, HealthMonitor
from inspection.health.signals import image_signals
from inspection.simulation.twin import PartOutcome, ProcessTwin

__all__ = ["JITTER_PX", "SCENARIOS", "HealthRun", "Scenario", "degrade", "load_demo_inspector", "reliably_caught",
           "simulate_health"]


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str  # the degradation, in words, with its unit
    rate: float  # degradation units per 1000 parts after onset


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("defocus", "blur sigma (px)", 0.8),
    Scenario("dimming", "light lost (share of gain)", 0.2),
    Scenario("shift", "camera offset (px, x; y is half)", 4.0),
    Scenario("material", "material change (0 = old, 1 = new)", 0.25),
    Scenario("stable", "nothing", 0.0),
)}

_FIXTURE_GREY = (40, 40, 40)
# The nuisance a reliable catch must survive: the clean part moved by one pixel (the line's own pose
# jitter is far larger: ±5 % of the frame, ±10° rotation).
JITTER_PX = ((1, 0), (-1, 0), (0, 1), (0, -1))
_TEXTURE: dict[tuple[int, int], np.ndarray] = {}


def _texture(shape: tuple[int, int]) -> np.ndarray:
    """A fixed fine-grained surface texture (zero mean, unit std) of the new material."""
    if shape not in _TEXTURE:
        noise = np.random.default_rng(12345).standard_normal(shape).astype(np.float32)
        grain = cv2.GaussianBlur(noise, (0, 0), 1.2)
        _TEXTURE[shape] = (grain - grain.mean()) / grain.std()
    return _TEXTURE[shape]


def degrade(image: np.ndarray, scenario: str, level: float) -> np.ndarray:
    """The image as the degraded station would see it at `level` (the scenario's unit)."""
    if level <= 0.0 or scenario == "stable":
        return image
    if scenario == "defocus":
        return cv2.GaussianBlur(image, (0, 0), level) if level >= 0.05 else image
    if scenario == "dimming":
        return cv2.convertScaleAbs(image, alpha=max(1.0 - level, 0.0))
    if scenario == "shift":
        # Whole pixels: a sub-pixel warp would interpolate, i.e. blur, which a moving camera does not do.
        dx, dy = round(level), round(level / 2.0)
        if dx == 0 and dy == 0:
            return image
        return _moved(image, dx, dy, fixture=True)
    if scenario == "material":
        t = min(level, 1.0)
        out = image.astype(np.float32)
        if out.ndim == 3:  # a warmer, redder surface: less blue, more red
            out *= np.float32([1.0 - 0.3 * t, 1.0, 1.0 + 0.3 * t])
            out += (25.0 * t * _texture(image.shape[:2]))[:, :, None]
        else:
            out += 25.0 * t * _texture(image.shape[:2])
        return np.clip(out, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown health scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")


Inspector = Callable[[np.ndarray], tuple[VerdictStatus, float]]


def load_demo_inspector(process: str = "solder") -> Inspector:
    """The shipped demo model and recipe judge as a function image → (verdict status, top confidence)."""
    from inspection.adapters.registry import create_adapter
    from inspection.config import load_station_config
    from inspection.demo import demo_config_path
    from inspection.domain.judge import Judge
    from inspection.domain.recipe import load_recipe

    config = load_station_config(demo_config_path(process))
    recipe = load_recipe(config.recipe)
    detector = create_adapter("detector", config.detector, model_path=recipe.model)
    judge = Judge(recipe)
    counter = iter(range(1 << 62))

    def inspect(image: np.ndarray) -> tuple[VerdictStatus, float]:
        frame = Frame(image, "health-sim", next(counter), time.time(), source="health-sim")
        out = detector.detect(frame)
        top = max((d.confidence for d in out.detections if d.source != "anomaly"), default=0.0)
        return judge.judge(out.detections).verdict.status, float(top)

    return inspect


@dataclass
class HealthRun:
    scenario: str
    parts: int
    onset: int
    rate: float
    first_warning: HealthWarning | None = None
    first_escape: int | None = None
    escape_level: float | None = None
    false_warnings: int = 0  # warnings before the onset (stable: all of them)
    warnings: list[HealthWarning] = field(default_factory=list)
    defective: int = 0
    escapes: int = 0  # defective parts that escaped because of the degradation
    first_flip: int | None = None  # first borderline flip (lost on the degraded image, but also to a 1-px nudge)
    flips: int = 0
    model_runs: int = 0
    signal_us: float = 0.0  # image signals, per part (CPU time)
    monitor_us: float = 0.0  # drift, forecast and warnings, per part (CPU time)
    elapsed_s: float = 0.0
    monitor: HealthMonitor | None = None

    @property
    def lead(self) -> int | None:
        if self.first_warning is None or self.first_escape is None:
            return None
        return self.first_escape - self.first_warning.part

    def level(self, part: int) -> float:
        return max(part - self.onset, 0) * self.rate / 1000.0

    def report(self) -> str:
        sc = SCENARIOS[self.scenario]
        lines = [f"scenario {self.scenario}: {self.parts} parts, {self.defective} defective; "
                 + (f"{sc.what} rising {self.rate:g} per 1000 parts from part {self.onset}"
                    if self.scenario != "stable" else "no degradation"),
                 f"CPU per part: image signals {self.signal_us:.0f} µs, monitor {self.monitor_us:.0f} µs; "
                 f"model runs {self.model_runs}; {self.elapsed_s:.0f} s in all"]
        if self.scenario == "stable":
            lines.append(f"false warnings = {self.false_warnings}")
            for w in self.warnings[:5]:
                lines.append(f"  part {w.part}: {w.message}")
            return "\n".join(lines)
        if self.false_warnings:
            lines.append(f"false warnings before the degradation began = {self.false_warnings}")
        w = self.first_warning
        lines.append(f"first warning: part {w.part} ({sc.what} {self.level(w.part):.3g}): {w.message}"
                     if w else "first warning: none")
        lines.append(f"first escape caused by the degradation: part {self.first_escape} "
                     f"({sc.what} {self.escape_level:.3g}); {self.escapes} such escapes in all"
                     if self.first_escape is not None else f"first escape caused by the degradation: none "
                     f"within {self.parts} parts")
        if self.flips:
            lines.append(f"borderline flips (lost on the degraded image, also lost when the clean part moves by "
                         f"1 px): {self.flips}, first at part {self.first_flip}")
        if self.lead is not None:
            lines.append(f"lead = {self.lead} parts")
        elif w is not None:
            lines.append(f"lead >= {self.parts - w.part} parts (no escape yet)")
        return "\n".join(lines)


def simulate_health(scenario: str, parts: int, *, seed: int = 0, onset: int = 500, rate: float | None = None,
                    model_every: int = 10, pool: int = 150, size: int = 320, process: str = "solder",
                    config: HealthConfig | None = None, inspector: Inspector | None = None,
                    stop_after_escape: int | None = None) -> HealthRun:
    """Run one scenario; see the module docstring. `stop_after_escape`: end that many parts after the
    first escape (the short CI runs)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown health scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    if parts < 1 or model_every < 1 or pool < 1:
        raise ValueError("parts, model_every and pool must be at least 1")
    config = config or HealthConfig(learn_parts=min(400, max(onset - 50, 50)))
    if onset <= config.learn_parts and scenario != "stable":
        raise ValueError(f"onset {onset}: the degradation must begin after the baseline's "
                         f"{config.learn_parts} parts")
    started = time.perf_counter()
    inspect = inspector or load_demo_inspector(process)
    twin = ProcessTwin(process, seed=seed, drift={})
    run = HealthRun(scenario, parts, onset, SCENARIOS[scenario].rate if rate is None else rate)
    monitor = run.monitor = HealthMonitor(config)
    shape = (size, size)
    good = [twin.render(PartOutcome(10_000_000 + k, {}, {}, {}, ()), shape).image for k in range(pool)]
    rng = np.random.default_rng([seed, 7])
    signal_s = monitor_s = 0.0
    end = parts
    for i in range(parts):
        if i >= end:
            break
        outcome = twin.next_part()
        level = run.level(i)
        clean = twin.render(outcome, shape).image if outcome.defective else good[int(rng.integers(pool))]
        image = degrade(clean, scenario, level)
        t0 = time.thread_time()  # CPU time of this thread: the cost, not the wait on a loaded machine
        values = image_signals(image)
        signal_s += time.thread_time() - t0
        if outcome.defective:
            run.defective += 1
            status, top = inspect(image)
            run.model_runs += 1
            if level > 0:
                before, _ = inspect(clean)
                run.model_runs += 1
                if before is not VerdictStatus.PASS and status is VerdictStatus.PASS:
                    run.model_runs += len(JITTER_PX)
                    if not reliably_caught(inspect, clean):
                        run.flips += 1
                        run.first_flip = i if run.first_flip is None else run.first_flip
                    else:
                        run.escapes += 1
                        if run.first_escape is None:
                            run.first_escape, run.escape_level = i, level
                            if stop_after_escape is not None:
                                end = min(parts, i + stop_after_escape)
            values.update(top_confidence=top, review=float(status is VerdictStatus.REVIEW))
        elif i % model_every == 0:
            status, top = inspect(image)
            run.model_runs += 1
            values.update(top_confidence=top, review=float(status is VerdictStatus.REVIEW))
        t0 = time.thread_time()
        raised = monitor.update(values, part=i, timestamp_s=i * 0.5)  # a line at 2 parts/s
        monitor_s += time.thread_time() - t0
        for warning in raised:
            run.warnings.append(warning)
            if scenario == "stable" or i < onset:
                run.false_warnings += 1
            elif run.first_warning is None:
                run.first_warning = warning
    done = min(end, parts)
    run.parts = done
    run.signal_us = signal_s / max(done, 1) * 1e6
    run.monitor_us = monitor_s / max(done, 1) * 1e6
    run.elapsed_s = time.perf_counter() - started
    return run


def _moved(image: np.ndarray, dx: int, dy: int, fixture: bool = False) -> np.ndarray:
    """`image` moved by whole pixels; the uncovered border shows the dark fixture (a camera that moved) or
    repeats the edge (the part nudged within its own pose jitter)."""
    h, w = image.shape[:2]
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    if not fixture:
        return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    border = _FIXTURE_GREY if image.ndim == 3 else _FIXTURE_GREY[0]
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def reliably_caught(inspect: Inspector, clean: np.ndarray) -> bool:
    """Caught on the clean image moved by each of `JITTER_PX` too (the caller knows it is caught unmoved)."""
    return all(inspect(_moved(clean, dx, dy))[0] is not VerdictStatus.PASS for dx, dy in JITTER_PX)


def main_report(run: HealthRun) -> dict[str, Any]:
    return {"scenario": run.scenario, "parts": run.parts, "first_warning": run.first_warning.part
            if run.first_warning else None, "first_escape": run.first_escape, "lead": run.lead,
            "false_warnings": run.false_warnings, "signal_us": round(run.signal_us, 1),
            "monitor_us": round(run.monitor_us, 1), "escapes": run.escapes, "borderline_flips": run.flips,
            "first_flip": run.first_flip}
