"""Process port: the upstream process (paste printer + reflow oven, paint booth) the station steers.

A port reads the process parameters, writes setpoints and reads back the actual values. Adapters:
`opcua` (asyncua client to a real line or to the process twin served over OPC UA) and `twin` (the twin
in the same process, for simulation and the demo). Both are chosen by `kind:` through
`inspection.adapters.registry.ADAPTERS["process"]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from inspection.errors import OutputError

__all__ = ["NAMESPACE", "ParameterInfo", "ProcessError", "ProcessPort", "WriteRejected"]

NAMESPACE = "urn:inspection-station:process-twin"
"""OPC UA namespace of the process parameters (the twin serves it; `kind: opcua` reads it by default)."""


class ProcessError(OutputError):
    """The process port could not be reached, timed out or answered something unusable."""


class WriteRejected(ProcessError):
    """The process refused a setpoint (out of its range, unknown parameter, read-only)."""


@dataclass(frozen=True, slots=True)
class ParameterInfo:
    """One process parameter: unit, nominal value, the process's own hard range and a typical scale.

    `scale` is the size of a "noticeable" change (one unit of the twin's normalised deviation); the
    controller uses it to compare moves of parameters with different units.
    """

    name: str
    unit: str
    nominal: float
    low: float
    high: float
    scale: float
    description: str = ""

    def __post_init__(self) -> None:
        if not self.low <= self.nominal <= self.high:
            raise ValueError(f"ParameterInfo {self.name}: expected low <= nominal <= high, "
                             f"got {self.low} <= {self.nominal} <= {self.high}")
        if self.scale <= 0:
            raise ValueError(f"ParameterInfo {self.name}: expected scale > 0, got {self.scale}")


@runtime_checkable
class ProcessPort(Protocol):
    """The process as the controller sees it. Every call is bounded by the adapter's timeout_s."""

    process: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def parameters(self) -> dict[str, ParameterInfo]:
        """The parameters this process has (name → info)."""
        ...

    def read_setpoints(self) -> dict[str, float]: ...

    def write_setpoints(self, values: Mapping[str, float]) -> None:
        """Write some setpoints; raises WriteRejected naming the parameter the process refused."""
        ...

    def read_actuals(self) -> dict[str, float]:
        """The measured values now in force (setpoint + the process's own drift and noise)."""
        ...
