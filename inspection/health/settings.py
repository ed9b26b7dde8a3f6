"""The station YAML's `health:` section (`inspection.config.HealthSection`) turned into the monitor's
configuration and signal catalogue, with the limit overrides checked against the catalogue.

The section's model lives in `inspection.config` with every other station section (the configuration
reference is generated from it); the catalogue lives here, so the names are checked here: when the station
opens and by `station doctor`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from inspection.config import HealthSection
from inspection.errors import ConfigError
from inspection.health.monitor import HealthConfig
from inspection.health.signals import SIGNALS, SignalSpec

__all__ = ["monitor_config", "signal_specs"]


def signal_specs(section: HealthSection, source: str | Path | None = None) -> dict[str, SignalSpec]:
    """The catalogue with the section's `limits` in force; ConfigError naming the file, the key, the unknown
    signal and the known ones."""
    where = f"{source or 'station config'}: health.limits"
    unknown = sorted(set(section.limits) - set(SIGNALS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown health signal {unknown[0]!r}; known signals: "
                          f"{', '.join(SIGNALS)} (docs/health.md)")
    specs = dict(SIGNALS)
    for name, limit in section.limits.items():
        spec = SIGNALS[name]
        if spec.mode != "absolute" and limit <= 0:
            raise ConfigError(f"{where}.{name}: expected a {spec.mode} limit > 0 ({_meaning(spec)}), got {limit}")
        specs[name] = dataclasses.replace(spec, limit=float(limit))
    return specs


def monitor_config(section: HealthSection) -> HealthConfig:
    """The monitor's settings: the section's values over the monitor's defaults."""
    config = HealthConfig(learn_parts=section.learn_parts)
    if section.lam is not None:
        config = dataclasses.replace(config, lam=section.lam)
    if section.width is not None:
        config = dataclasses.replace(config, width=section.width)
    return config


def _meaning(spec: SignalSpec) -> str:
    return ("the limit is baseline × (1 ± limit)" if spec.mode == "ratio"
            else f"the limit is baseline ± limit, in {spec.unit}")
