"""Reject-output port: sends each verdict to the line (PLC, camera output line, nothing).

Adapters are chosen by `kind:` through `inspection.adapters.registry`. `publish` is on the latency-critical
path: it must not block longer than its adapter's timeout.

Adapters: `none`, `modbus`, `s7`, `opcua` (PLC outputs sharing `supervisor.PlcOutput`: signal map,
handshake, part tracking, heartbeat/watchdog, reconnect, fail-safe), `genicam_line` (a camera's digital
output) and `opcua_server` (the station served over OPC UA for MES/SCADA). See docs/plc.md.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from inspection.domain.types import Inspection

__all__ = ["RejectOutput"]


@runtime_checkable
class RejectOutput(Protocol):
    def open(self) -> None: ...

    def publish(self, inspection: Inspection) -> None:
        """Hand the verdict for one part to the line."""
        ...

    def close(self) -> None: ...
