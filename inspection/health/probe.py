"""Health probes: the small read-only hook through which a station component (PLC output, telemetry sink,
camera, the runtime's queues) tells the health monitor how it is doing.

A component is a probe when it has `health_signals()`; it need not import this module (structural
typing), so the layers below `inspection.health` stay unaware of it. The `HealthListener` polls the probes
on its own thread every `station_every` parts, never on the verdict path. A probe must be cheap and
must not block beyond its own component's timeouts; it returns only the signals it has right now: a
signal it cannot measure (a camera without `DeviceTemperature`) is absent, which is not an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

__all__ = ["HealthProbe", "Probe", "poll_probes", "probes_of"]

log = logging.getLogger(__name__)

Probe = Callable[[], Mapping[str, float]]
"""What the listener calls: a component's bound `health_signals`, or any function returning signals."""


@runtime_checkable
class HealthProbe(Protocol):
    def health_signals(self) -> Mapping[str, float]:
        """Signal name (from `inspection.health.signals.SIGNALS`) → value, for the signals measurable now."""
        ...


def probes_of(components: Iterable[object]) -> list[Probe]:
    """The `health_signals` of every component that has one (others are skipped)."""
    return [c.health_signals for c in components if isinstance(c, HealthProbe)]


def poll_probes(probes: Iterable[Probe], failed: set[int] | None = None) -> dict[str, float]:
    """Every probe's signals merged. Two probes giving one signal (two cameras, two MQTT sinks): the larger
    value counts, the worse one for every probed signal. A probe that raises is skipped (logged once per
    probe in `failed`): health must never stop the listener."""
    out: dict[str, float] = {}
    for probe in probes:
        try:
            values = probe()
        except Exception as exc:
            if failed is None or id(probe) not in failed:
                log.warning("health probe %s failed: %s: %s", getattr(probe, "__qualname__", probe),
                            type(exc).__name__, exc)
                if failed is not None:
                    failed.add(id(probe))
            continue
        for name, value in values.items():
            value = float(value)
            out[name] = max(out[name], value) if name in out else value
    return out
