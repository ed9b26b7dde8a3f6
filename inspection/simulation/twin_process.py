"""Process port adapter `twin`: the process twin in this Python process (simulation, demo, fast tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from inspection.config import AdapterOptions
from inspection.process import ParameterInfo
from inspection.simulation.twin import ProcessTwin

__all__ = ["InProcessTwin", "Options", "create"]


class Options(AdapterOptions):
    kind: Literal["twin"] = "twin"
    process: Literal["solder", "paint"] = "solder"
    seed: int = 0
    drift: dict[str, float] | None = Field(None, description="units per 100 parts; default: the twin's own")
    noise: float = Field(0.15, ge=0)


class InProcessTwin:
    """A ProcessPort over a ProcessTwin object (shared with whoever makes the parts)."""

    def __init__(self, twin: ProcessTwin) -> None:
        self.twin = twin
        self.process = twin.process

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> InProcessTwin:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def parameters(self) -> dict[str, ParameterInfo]:
        return self.twin.parameters()

    def read_setpoints(self) -> dict[str, float]:
        return self.twin.read_setpoints()

    def write_setpoints(self, values: Mapping[str, float]) -> None:
        self.twin.write_setpoints(values)

    def read_actuals(self) -> dict[str, float]:
        return self.twin.read_actuals()


def create(options: Options, twin: ProcessTwin | None = None, **_: Any) -> InProcessTwin:
    """Wrap `twin` when given (so the line and the controller share it), else build one from the options."""
    return InProcessTwin(twin or ProcessTwin(options.process, options.seed, options.drift, options.noise))
