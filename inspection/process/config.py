"""Closed pydantic models of the controller and twin YAML, with errors that name the key to fix.

Checks that need the process (which parameters it has, their current values) run in
`check_against_process`, called when the controller connects: a sensitivity table naming a parameter
the process does not have, or limits that exclude the value in force, are ConfigErrors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from inspection.config import StrictModel, read_yaml, validate_model
from inspection.errors import ConfigError
from inspection.process import ParameterInfo

__all__ = [
    "BUNDLED_CONFIGS",
    "ControllerConfig",
    "CusumConfig",
    "FreezeConfig",
    "ParameterLimits",
    "PidConfig",
    "TwinConfig",
    "check_against_process",
    "default_controller_config",
    "load_controller_config",
]

BUNDLED_CONFIGS = Path(__file__).with_name("configs")


class ParameterLimits(StrictModel):
    """What the controller may do to one parameter (units of the parameter)."""

    min: float
    max: float
    max_step: float = Field(gt=0, description="largest change in one move")
    rate_limit: float = Field(gt=0, description="largest total change within any 100 parts")
    deadband: float = Field(0.0, ge=0, description="moves smaller than this are not made")

    @model_validator(mode="after")
    def _ordered(self) -> ParameterLimits:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        return self


class CusumConfig(StrictModel):
    """Bernoulli log-likelihood CUSUM per class: detects the rate rising from its target to shift_ratio x target."""

    shift_ratio: float = Field(2.0, gt=1)
    h: float = Field(4.0, gt=0, description="decision interval (log-likelihood units)")


class FreezeConfig(StrictModel):
    """When the camera or model is in doubt the controller makes no automatic change."""

    max_error_rate: float = Field(0.05, ge=0, le=1, description="ERROR verdicts among recent parts")
    error_window: int = Field(50, ge=1)
    on_model_change: bool = True
    on_alarm: bool = True


class PidConfig(StrictModel):
    """Gains of the PID option (simple_pid), acting on the least-squares correction per run."""

    kp: float = Field(0.2, ge=0.0, le=100.0, description="a negative gain drives the process away from target")
    ki: float = Field(0.4, ge=0.0, le=100.0)
    kd: float = Field(0.0, ge=0.0, le=100.0)


class TwinConfig(StrictModel):
    """The process twin: seed, drift (units per 100 parts), noise (fraction of each parameter's scale)."""

    seed: int = 0
    drift: dict[str, float] | None = None
    noise: float = Field(0.15, ge=0)
    setpoints: dict[str, float] = Field(default_factory=dict)


class ControllerConfig(StrictModel):
    process: Literal["solder", "paint"]
    mode: Literal["advise", "auto"] = "advise"
    algorithm: Literal["ewma", "pid"] = "ewma"
    gain: float = Field(0.5, gt=0, le=1, description="fraction of the least-squares correction applied per run")
    ridge: float = Field(0.05, ge=0, description="regularisation of the least-squares move (normalised units)")
    min_samples: int = Field(100, ge=10, description="parts since the last change before acting again")
    ewma_lambda: float = Field(0.1, gt=0, le=1)
    ewma_l: float = Field(3.0, gt=0, description="EWMA chart limit in sigmas")
    cusum: CusumConfig = CusumConfig()
    default_target: float = Field(0.02, gt=0, lt=1, description="acceptable rate of a class not in targets")
    targets: dict[str, float] = Field(default_factory=dict)
    rate_deadband: float = Field(0.005, ge=0, description="excess defect rates below this are ignored")
    sensitivity: dict[str, dict[str, float]] = Field(
        description="class -> parameter -> change of the class's defect rate per unit of the parameter")
    parameters: dict[str, ParameterLimits] = Field(min_length=1, description="the parameters it may move")
    freeze: FreezeConfig = FreezeConfig()
    pid: PidConfig = PidConfig()
    twin: TwinConfig = TwinConfig()

    @model_validator(mode="after")
    def _consistent(self) -> ControllerConfig:
        for cls, row in self.sensitivity.items():
            extra = sorted(set(row) - set(self.parameters))
            if extra:
                raise ValueError(f"sensitivity.{cls} names {extra}, which are not under `parameters:` "
                                 f"(add limits for them or remove them from the table)")
        for cls, target in self.targets.items():
            if not 0 < target < 1:
                raise ValueError(f"targets.{cls}: expected a rate between 0 and 1, got {target}")
        return self

    def target(self, cls: str) -> float:
        return self.targets.get(cls, self.default_target)


def load_controller_config(path: Path) -> ControllerConfig:
    return validate_model(ControllerConfig, read_yaml(path), str(path))


def default_controller_config(process: str, **overrides: object) -> ControllerConfig:
    """The bundled configuration of a process (inspection/process/configs/<process>.yaml)."""
    path = BUNDLED_CONFIGS / f"{process}.yaml"
    if not path.exists():
        raise ConfigError(f"no bundled controller configuration for process {process!r}; expected {path}")
    data = read_yaml(path) | dict(overrides)
    return validate_model(ControllerConfig, data, str(path))


def check_against_process(config: ControllerConfig, parameters: Mapping[str, ParameterInfo],
                          classes: tuple[str, ...], current: Mapping[str, float], source: str = "controller") -> None:
    """The checks that need the process: names it has, limits that contain the values in force."""
    problems = []
    known = ", ".join(parameters)
    for cls, row in config.sensitivity.items():
        if classes and cls not in classes:
            problems.append(f"sensitivity.{cls}: unknown defect class {cls!r}; expected one of {', '.join(classes)}")
        for name in row:
            if name not in parameters:
                problems.append(f"sensitivity.{cls}.{name}: the {config.process} process has no parameter "
                                f"{name!r}; expected one of {known}")
    for cls in config.targets:
        if classes and cls not in classes:
            problems.append(f"targets.{cls}: unknown defect class {cls!r}; expected one of {', '.join(classes)}")
    for name, limits in config.parameters.items():
        if name not in parameters:
            problems.append(f"parameters.{name}: the {config.process} process has no parameter {name!r}; "
                            f"expected one of {known}")
            continue
        info = parameters[name]
        if limits.min < info.low or limits.max > info.high:  # the process's own range is the outer bound
            problems.append(f"parameters.{name}: limits {limits.min:g}..{limits.max:g} {info.unit} reach outside "
                            f"the range the {config.process} process publishes ({info.low:g}..{info.high:g} "
                            f"{info.unit}); narrow them")
        value = current.get(name)
        if value is not None and not limits.min <= value <= limits.max:
            unit = parameters[name].unit
            problems.append(f"parameters.{name}: limits {limits.min:g}..{limits.max:g} {unit} exclude the value "
                            f"in force ({value:g} {unit}); widen the limits or bring the process inside them first")
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
