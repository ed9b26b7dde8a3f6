"""The one registry that maps a port's `kind:` key to the adapter module that implements it.

Each adapter lives in its own module, which exposes:
- `Options`: a pydantic model (subclass of `inspection.config.AdapterOptions`) with `kind: Literal[...]`;
- `create(options, **context)`: build the adapter (a context manager owning its resources).

Modules are imported only when their kind is used, so a station without a PLC never imports pymodbus.
A new camera vendor or PLC protocol is one new module plus one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from inspection.errors import ConfigError

__all__ = ["ADAPTERS", "adapter_module", "create_adapter", "known_kinds"]

ADAPTERS: dict[str, dict[str, str]] = {
    "camera": {
        "replay": "inspection.camera.replay",
        "genicam": "inspection.camera.genicam",
        "twin": "inspection.process.twin_camera",
    },
    "detector": {
        "ultralytics": "inspection.detector.ultralytics_backend",
        "aoi": "inspection.aoi.adapter",
        "onnx": "inspection.backends.onnx_backend",
        "openvino": "inspection.backends.openvino_backend",
        "tensorrt": "inspection.backends.tensorrt_backend",
        "anomaly": "inspection.anomaly.detector",
        "combined": "inspection.anomaly.combined",
    },
    "output": {
        "none": "inspection.outputs.none",
        "modbus": "inspection.outputs.modbus",
        "s7": "inspection.outputs.s7",
        "opcua": "inspection.outputs.opcua",
        "genicam_line": "inspection.outputs.genicam_line",
        "opcua_server": "inspection.outputs.opcua_server",
        "opcua_vision": "inspection.outputs.opcua_vision",
    },
    "process": {
        "opcua": "inspection.process.opcua_client",
        "twin": "inspection.process.inprocess",
    },
    "telemetry": {
        "mqtt": "inspection.process.telemetry_mqtt",
        "opcua": "inspection.process.telemetry_opcua",
    },
}


def known_kinds(port: str) -> tuple[str, ...]:
    return tuple(sorted(ADAPTERS.get(port, {})))


def adapter_module(port: str, kind: str) -> ModuleType:
    """Import the module for `kind` on `port`; a clear ConfigError when the kind is unknown."""
    modules = ADAPTERS.get(port)
    if modules is None:
        raise ConfigError(f"unknown port {port!r}; expected one of {', '.join(sorted(ADAPTERS))}")
    name = modules.get(kind)
    if name is None:
        raise ConfigError(
            f"unknown {port} kind {kind!r}; expected one of: {', '.join(known_kinds(port)) or '(none)'}"
        )
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(
            f"{port} kind {kind!r} needs a package that is not installed ({exc.name or exc}); "
            f"install the station with its dependencies: pip install -e ."
        ) from exc


def create_adapter(port: str, options: Any, **context: Any) -> Any:
    """Build the adapter for already-validated options (their `kind` picks the module)."""
    return adapter_module(port, options.kind).create(options, **context)
