"""Process twin: process parameters in, per-class defect probabilities out, with drift and noise.

Two processes are modelled: `solder` (paste printing + reflow) and `paint` (spray booth). Each class's
probability is a logistic function of the parameters' normalised deviations from nominal,
``z = (actual - nominal) / scale``. The coefficients encode shop-floor knowledge: too much paste bridges,
too little (or a cold oven) leaves insufficient joints; too much paint flow runs, too little leaves thin
coverage and orange peel; humid air craters. The true model is nonlinear and coupled, so a linear
sensitivity table in the controller is only ever an approximation, as on a real line.

The actual value of a parameter is its setpoint plus a drift (units per 100 parts, e.g. a clogging
stencil) plus noise. Part ``i`` depends only on (seed, i, setpoints in force), so an open- and a
closed-loop run with the same seed see the same random numbers. Parts are rendered with exactly the
defects the twin decided through the synthetic generators' ``defect_probabilities`` hook.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inspection.process import ParameterInfo, WriteRejected
from inspection.simulation.synthetic.paint import PAINT_CLASSES  # the renderer's classes are the twin's
from inspection.simulation.synthetic.solder import SOLDER_CLASSES

__all__ = [
    "MODELS",
    "PAINT_CLASSES",
    "PROCESSES",
    "SOLDER_CLASSES",
    "PartOutcome",
    "ProcessModel",
    "ProcessTwin",
]



@dataclass(frozen=True)
class ProcessModel:
    """Parameters, classes and the logistic defect model of one process."""

    name: str
    parameters: tuple[ParameterInfo, ...]
    classes: tuple[str, ...]
    base_logit: float
    effects: Mapping[str, Mapping[str, float]]  # class -> parameter -> logit per normalised unit
    interactions: Mapping[str, float] = field(default_factory=dict)  # class -> logit per z² of its main knob
    default_drift: Mapping[str, float] = field(default_factory=dict)  # parameter -> units per 100 parts

    def info(self) -> dict[str, ParameterInfo]:
        return {p.name: p for p in self.parameters}


SOLDER = ProcessModel(
    name="solder",
    parameters=(
        ParameterInfo("paste_volume_pct", "%", 100.0, 60.0, 140.0, 8.0, "printed paste volume vs aperture"),
        ParameterInfo("squeegee_pressure_kg", "kg", 6.0, 2.0, 10.0, 0.8, "squeegee force"),
        ParameterInfo("reflow_peak_c", "°C", 245.0, 225.0, 265.0, 5.0, "reflow peak temperature"),
        ParameterInfo("time_above_liquidus_s", "s", 60.0, 30.0, 100.0, 10.0, "time above liquidus"),
        ParameterInfo("conveyor_speed_cm_min", "cm/min", 80.0, 50.0, 110.0, 8.0, "reflow conveyor speed"),
    ),
    classes=SOLDER_CLASSES,
    base_logit=-4.5,
    effects={
        "bridge": {"paste_volume_pct": 1.0, "squeegee_pressure_kg": -0.5, "reflow_peak_c": 0.2},
        "insufficient": {"paste_volume_pct": -1.0, "squeegee_pressure_kg": 0.5, "reflow_peak_c": -0.6,
                         "time_above_liquidus_s": -0.5},
        "excess": {"paste_volume_pct": 0.8, "squeegee_pressure_kg": -0.3},
        "missing": {"conveyor_speed_cm_min": 0.3},
        "tombstone": {"conveyor_speed_cm_min": 0.6, "reflow_peak_c": 0.3, "time_above_liquidus_s": -0.2},
        "shifted": {"conveyor_speed_cm_min": 0.5},
        "solder_ball": {"paste_volume_pct": 0.4, "reflow_peak_c": 0.4, "time_above_liquidus_s": -0.3},
    },
    interactions={"bridge": 0.05, "insufficient": 0.05},
    default_drift={"paste_volume_pct": -1.2, "reflow_peak_c": -0.3},
)

PAINT = ProcessModel(
    name="paint",
    parameters=(
        ParameterInfo("fluid_flow_cc_min", "cc/min", 250.0, 150.0, 350.0, 20.0, "paint fluid flow"),
        ParameterInfo("atomising_air_bar", "bar", 3.0, 1.5, 4.5, 0.3, "atomising air pressure"),
        ParameterInfo("shaping_air_bar", "bar", 2.0, 1.0, 3.5, 0.25, "shaping air pressure"),
        ParameterInfo("booth_humidity_pct", "%RH", 55.0, 30.0, 85.0, 5.0, "booth relative humidity"),
        ParameterInfo("robot_speed_mm_s", "mm/s", 400.0, 250.0, 600.0, 40.0, "robot traverse speed"),
    ),
    classes=PAINT_CLASSES,
    base_logit=-4.3,
    effects={
        "run": {"fluid_flow_cc_min": 1.0, "shaping_air_bar": -0.3, "booth_humidity_pct": 0.3,
                "robot_speed_mm_s": -0.7},
        "crater": {"booth_humidity_pct": 1.0, "atomising_air_bar": 0.2},
        "inclusion": {"atomising_air_bar": 0.3, "booth_humidity_pct": -0.2},
        "scratch": {"robot_speed_mm_s": 0.2},
        "orange_peel": {"atomising_air_bar": -0.9, "fluid_flow_cc_min": -0.4, "booth_humidity_pct": -0.3},
        "thin_coverage": {"fluid_flow_cc_min": -1.0, "robot_speed_mm_s": 0.8, "shaping_air_bar": 0.4},
    },
    interactions={"run": 0.05, "thin_coverage": 0.05},
    default_drift={"fluid_flow_cc_min": -2.5, "booth_humidity_pct": 0.4},
)

MODELS: dict[str, ProcessModel] = {"solder": SOLDER, "paint": PAINT}
PROCESSES: tuple[str, ...] = tuple(MODELS)


@dataclass(frozen=True, slots=True)
class PartOutcome:
    """What the twin made for part `index`: the values in force, the probabilities, the defects it decided."""

    index: int
    setpoints: Mapping[str, float]
    actuals: Mapping[str, float]
    probabilities: Mapping[str, float]
    defects: tuple[str, ...]

    @property
    def defective(self) -> bool:
        return bool(self.defects)


class ProcessTwin:
    """A seeded simulator of one process. Thread-safe: the OPC UA server and the line may share it."""

    def __init__(self, process: str, seed: int = 0, drift: Mapping[str, float] | None = None,
                 noise: float = 0.15, setpoints: Mapping[str, float] | None = None,
                 rate_window: int = 100) -> None:
        if process not in MODELS:
            raise WriteRejected(f"unknown process {process!r}; expected one of {', '.join(PROCESSES)}")
        self.model = MODELS[process]
        self.process = process
        self.seed = int(seed)
        self.noise = float(noise)
        self._info = self.model.info()
        self.drift = dict(self.model.default_drift if drift is None else drift)
        self._check_names(self.drift, "drift")
        self._setpoints = {p.name: p.nominal for p in self.model.parameters}
        self._lock = threading.RLock()
        self._index = 0
        self._recent: deque[PartOutcome] = deque(maxlen=rate_window)
        if setpoints:
            self.write_setpoints(setpoints)

    # --- the port side --------------------------------------------------------------------------

    @property
    def classes(self) -> tuple[str, ...]:
        return self.model.classes

    @property
    def index(self) -> int:
        """Index of the next part the twin will make."""
        return self._index

    def parameters(self) -> dict[str, ParameterInfo]:
        return dict(self._info)

    def read_setpoints(self) -> dict[str, float]:
        with self._lock:
            return dict(self._setpoints)

    def write_setpoints(self, values: Mapping[str, float]) -> None:
        """All-or-nothing: every value is checked against the process's range before any is written."""
        checked = {}
        for name, value in values.items():
            info = self._info.get(name)
            if info is None:
                raise WriteRejected(f"{self.process} twin: unknown parameter {name!r}; "
                                    f"expected one of {', '.join(self._info)}")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise WriteRejected(f"{self.process} twin: {name}: expected a number, got {value!r}") from None
            if not math.isfinite(number) or not info.low <= number <= info.high:
                raise WriteRejected(f"{self.process} twin: {name} = {number:g} {info.unit} is outside the process "
                                    f"range {info.low:g}..{info.high:g} {info.unit}")
            checked[name] = number
        with self._lock:
            self._setpoints.update(checked)

    def read_actuals(self) -> dict[str, float]:
        """The values in force for the next part: setpoint + drift + that part's noise."""
        with self._lock:
            return self._actuals(self._index, self._setpoints)

    # --- the physics ----------------------------------------------------------------------------

    def offsets(self, index: int) -> dict[str, float]:
        """Drift at part `index` (linear in parts, units per 100 parts)."""
        return {name: self.drift.get(name, 0.0) * index / 100.0 for name in self._info}

    def _actuals(self, index: int, setpoints: Mapping[str, float]) -> dict[str, float]:
        rng = np.random.default_rng([self.seed, index, 1])
        offsets = self.offsets(index)
        noise = rng.standard_normal(len(self._info)) * self.noise
        return {name: setpoints[name] + offsets[name] + float(n) * info.scale
                for (name, info), n in zip(self._info.items(), noise, strict=True)}

    def probabilities(self, actuals: Mapping[str, float]) -> dict[str, float]:
        """Per-class defect probability for one part made with `actuals`."""
        z = {name: (actuals[name] - info.nominal) / info.scale for name, info in self._info.items()}
        out = {}
        for cls in self.model.classes:
            effects = self.model.effects.get(cls, {})
            logit = self.model.base_logit + sum(coef * z[p] for p, coef in effects.items())
            main = max(effects, key=lambda p: abs(effects[p])) if effects else None
            if main is not None:  # curvature: far from nominal every knob hurts a little
                logit += self.model.interactions.get(cls, 0.0) * z[main] ** 2
            out[cls] = 1.0 / (1.0 + math.exp(-logit))
        return out

    def next_part(self) -> PartOutcome:
        """Make one part with the setpoints in force now; decide its defects."""
        with self._lock:
            index = self._index
            setpoints = dict(self._setpoints)
            actuals = self._actuals(index, setpoints)
            probs = self.probabilities(actuals)
            rng = np.random.default_rng([self.seed, index, 2])
            draws = rng.random(len(self.model.classes))
            defects = tuple(c for c, u in zip(self.model.classes, draws, strict=True) if u < probs[c])
            outcome = PartOutcome(index, setpoints, actuals, probs, defects)
            self._recent.append(outcome)
            self._index += 1
            return outcome

    def measured(self) -> dict[str, Any]:
        """Measured values the twin serves: parts made, defect rate and per-class rates of the recent window."""
        with self._lock:
            recent = list(self._recent)
        n = len(recent)
        rates = {c: (sum(c in o.defects for o in recent) / n if n else 0.0) for c in self.classes}
        return {"parts": self._index, "window": n,
                "defect_rate": (sum(o.defective for o in recent) / n if n else 0.0), "class_rates": rates}

    def render(self, outcome: PartOutcome, size: tuple[int, int] = (160, 160), pixel_format: str = "bgr8") -> Any:
        """Render the part with exactly the defects the twin decided (inspection.simulation.synthetic generators)."""
        generator = _generator(self.process, self.seed, size, pixel_format)
        wanted = {c: (1.0 if c in outcome.defects else 0.0) for c in self.classes}
        return generator.part(outcome.index, defect_probabilities=wanted)

    def _check_names(self, values: Mapping[str, float], what: str) -> None:
        unknown = sorted(set(values) - set(self._info))
        if unknown:
            raise WriteRejected(f"{self.process} twin: {what} names unknown parameters {unknown}; "
                                f"expected some of {', '.join(self._info)}")


def _generator(process: str, seed: int, size: tuple[int, int], pixel_format: str) -> Any:
    # Imported here: the twin's statistics need no image stack, only rendering does.
    if process == "solder":
        from inspection.simulation.synthetic.solder import SolderGenerator

        return SolderGenerator(seed=seed, size=size, pixel_format=pixel_format)  # type: ignore[arg-type]
    from inspection.simulation.synthetic.paint import PaintGenerator

    return PaintGenerator(seed=seed, size=size, pixel_format=pixel_format)  # type: ignore[arg-type]
