"""Reject-output port: sends each verdict to the line (PLC, camera output line, nothing).

Adapters are chosen by `kind:` through `inspection.registry`. `publish` is on the latency-critical
path: it must not block longer than its adapter's timeout.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from inspection.types import Inspection

__all__ = ["RejectOutput"]


@runtime_checkable
class RejectOutput(Protocol):
    def open(self) -> None: ...

    def publish(self, inspection: Inspection) -> None:
        """Hand the verdict for one part to the line."""
        ...

    def close(self) -> None: ...
