"""The one registry that maps a port's `kind:` key to the adapter module that implements it.

Each adapter lives in its own module, which exposes:
- `Options`: a pydantic model (subclass of `inspection.config.AdapterOptions`) with `kind: Literal[...]`;
- `create(options, **context)`: build the adapter (a context manager owning its resources);
- optional hooks (default signal map, simulator, export, docs): see `inspection.adapters.entry_points`.

Adapters declare themselves as entry points of the `inspection.adapters` group (`"output.modbus" =
"inspection.outputs.modbus"` in pyproject.toml), the station's own and those of any installed plugin
package alike, so a new camera vendor or PLC protocol is one package and no edit here. Modules are
imported only when their kind is used, so a station without a PLC never imports pymodbus.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from inspection.adapters.entry_points import PORTS, adapter_entries
from inspection.adapters.extras import missing_extra
from inspection.errors import ConfigError, ModelError

__all__ = ["ADAPTERS", "adapter_module", "create_adapter", "known_kinds", "missing_extra"]  # noqa: F822 (module __getattr__)

def __getattr__(name: str) -> Any:
    if name == "ADAPTERS":  # {port: {kind: module name}}, read from the entry points
        return {port: {kind: e.module for kind, e in kinds.items()} for port, kinds in adapter_entries().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def known_kinds(port: str) -> tuple[str, ...]:
    return tuple(sorted(adapter_entries().get(port, {})))


def adapter_module(port: str, kind: str) -> ModuleType:
    """Import the module for `kind` on `port`; a clear ConfigError when the kind is unknown."""
    entries = adapter_entries()
    if port not in entries:
        raise ConfigError(f"unknown port {port!r}; expected one of {', '.join(PORTS)}")
    entry = entries[port].get(kind)
    if entry is None:
        installed = ", ".join(known_kinds(port))
        if not installed:
            raise ConfigError(f"unknown {port} kind {kind!r}: no {port} adapters are installed (the station's "
                              f"entry points are missing: reinstall it with pip install -e .)")
        raise ConfigError(f"unknown {port} kind {kind!r}; installed: {installed} (a plugin package adds "
                          f"more: `station adapters` lists them)")
    try:
        return importlib.import_module(entry.module)
    except ImportError as exc:
        raise ConfigError(f"{port} kind {kind!r} ({entry.module}): {missing_extra(exc)}") from exc


def create_adapter(port: str, options: Any, **context: Any) -> Any:
    """Build the adapter for already-validated options (their `kind` picks the module)."""
    try:
        return adapter_module(port, options.kind).create(options, **context)
    except ImportError as exc:  # a lazily imported package of an extra (torch for a .pt model…)
        error = ModelError if port == "detector" else ConfigError
        raise error(f"{port} kind {options.kind!r}: {missing_extra(exc)}") from exc
