"""OPC UA telemetry: the station's counts, yield, class rates, alarms and last CFX message as server nodes.

A thin adapter around `TelemetryServer` (namespace `urn:inspection-station:telemetry`, endpoint
`opc.tcp://HOST:PORT/station/`) so a station YAML can select it with `telemetry: [{kind: opcua}]`.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field

from inspection.config import AdapterOptions
from inspection.telemetry import TelemetryServer, TelemetryState

__all__ = ["OpcUaTelemetry", "Options", "create"]


class Options(AdapterOptions):
    kind: Literal["opcua"]
    host: str = Field("127.0.0.1", description="interface the telemetry server listens on (0.0.0.0: all)")
    port: int = Field(4851, ge=1, le=65535, description="OPC UA server port")
    timeout_s: float = Field(15.0, gt=0, le=120, description="server start and stop")


class OpcUaTelemetry:
    """Serves a TelemetryState; values are read live when a client asks (nothing is pushed)."""

    def __init__(self, options: Options, state: TelemetryState) -> None:
        self.options = options
        self.server = TelemetryServer(state, options.host, options.port, options.timeout_s)

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def open(self) -> OpcUaTelemetry:
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:  # no-security warnings on every start
            logging.getLogger("asyncua").setLevel(logging.ERROR)
        self.server.start()
        return self

    def close(self) -> None:
        self.server.stop()

    def __enter__(self) -> OpcUaTelemetry:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def create(options: Options, *, state: TelemetryState, **_: Any) -> OpcUaTelemetry:
    return OpcUaTelemetry(options, state)
