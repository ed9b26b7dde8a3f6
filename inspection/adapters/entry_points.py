"""Adapter plugins: every camera, PLC output, process port, telemetry sink and detector/backend is
declared once as an entry point in the `inspection.adapters` group and found here.

An entry point is named `<port>.<kind>` and points at the adapter module, e.g. in `pyproject.toml`:

    [project.entry-points."inspection.adapters"]
    "output.modbus" = "inspection.outputs.modbus"

The station declares its own adapters that way, and so can any other installed distribution: a new PLC
protocol or runtime is one package (adapter, default signal map, simulator, docs) and nothing in the
station is edited. Every list of choices (config validation, `--protocol`, `--backend`, `--format`, the
PLC simulator, `station adapters`) reads this registry.

An adapter module must expose `Options` and `create` (see `inspection.adapters.registry`); it may expose hooks,
each optional, looked up by name on the module:

| hook | port | what |
|---|---|---|
| `DOCS: str` | any | its documentation page (path in the package's repository, or a URL) |
| `SIGNAL_MAP: Path` | output | the default signal-map YAML, used when the config names none |
| `simulator(smap, host, port) -> PlcSim` | output | a real server standing in for the PLC (`station plc-sim`) |
| `SIMULATOR_PORT: int` | output | the simulator's default TCP port |
| `exported_path(pt) -> Path` | detector | where `station export` writes this format beside a `.pt` model |
| `export_from_onnx(onnx, out, meta) -> Path` | detector | convert the station's ONNX export to this format |
| `verify_backend(path) -> Backend` | detector | load an exported file to compare it with the original model |

Modules are imported only when their kind is used or a hook is asked for, so a station without a PLC never
imports pymodbus.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

__all__ = ["GROUP", "PORTS", "AdapterEntry", "adapter_entries", "find_hook", "kinds_with_hook", "refresh"]

log = logging.getLogger(__name__)

GROUP = "inspection.adapters"
PORTS = ("camera", "detector", "output", "process", "telemetry")
"""The ports an adapter may plug into; an entry point naming another is ignored with a warning."""


@dataclass(frozen=True, slots=True)
class AdapterEntry:
    port: str
    kind: str
    module: str
    distribution: str
    """The installed distribution that declared it (for `station adapters` and duplicate warnings)."""


@functools.cache
def adapter_entries() -> dict[str, dict[str, AdapterEntry]]:
    """{port: {kind: entry}} of every installed adapter, read once per process (see `refresh`)."""
    found: dict[str, dict[str, AdapterEntry]] = {port: {} for port in PORTS}
    for ep in entry_points(group=GROUP):
        port, _, kind = ep.name.partition(".")
        dist = ep.dist.name if ep.dist is not None else "?"
        if port not in found or not kind:
            log.warning("ignoring adapter entry point %r of %s: expected '<port>.<kind>' with port one of %s",
                        ep.name, dist, ", ".join(PORTS))
            continue
        previous = found[port].get(kind)
        if previous is not None:
            if previous.module != ep.value:
                log.warning("%s kind %r is declared by %s (%s) and %s (%s); using the first", port, kind,
                            previous.distribution, previous.module, dist, ep.value)
            continue
        found[port][kind] = AdapterEntry(port, kind, ep.value.split(":")[0].strip(), dist)
    return found


def refresh() -> None:
    """Forget the cached entry points (after installing a plugin into the running interpreter, e.g. tests)."""
    adapter_entries.cache_clear()


def _module(port: str, kind: str) -> ModuleType | None:
    entry = adapter_entries().get(port, {}).get(kind)
    if entry is None:
        return None
    try:
        return importlib.import_module(entry.module)
    except ImportError as exc:  # its dependency is not installed: it offers no hooks here
        log.debug("%s kind %s unavailable: %s", port, kind, exc)
        return None


_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def find_hook(port: str, kind: str, name: str) -> Any | None:
    """The adapter module's hook `name`, or None when the kind is unknown, not importable or lacks it.

    A hook may be named instead of defined (`simulator = "pkg.module:Class"`), so that a module the adapter
    must not import (it imports the adapter) can still be its hook; the name is imported on first use."""
    module = _module(port, kind)
    hook = None if module is None else getattr(module, name, None)
    if isinstance(hook, str) and _REFERENCE.match(hook):
        module_name, _, attr = hook.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            log.debug("%s kind %s: hook %s = %r unavailable: %s", port, kind, name, hook, exc)
            return None
    return hook


def kinds_with_hook(port: str, name: str) -> tuple[str, ...]:
    """Installed kinds of `port` whose module offers hook `name` (imports those modules), sorted."""
    return tuple(kind for kind in sorted(adapter_entries().get(port, {})) if find_hook(port, kind, name) is not None)
