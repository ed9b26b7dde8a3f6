"""Baseline: each signal's level and spread at a known-good time, learned from recent parts.

Drift is judged against it, so set it when the station is known to inspect well (after a lens clean,
a light change or a retrain): from the console's Health tab or `station health baseline`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inspection.health.signals import SIGNALS, SignalSpec

__all__ = ["MIN_PARTS", "Baseline", "SignalBaseline", "transform"]

MIN_PARTS = 30  # fewer samples than this say too little about a signal's spread
_PSI_REFERENCE_MAX = 2000


def transform(spec: SignalSpec, value: float) -> float:
    return math.log(max(value, 1e-9)) if spec.log else value


@dataclass(frozen=True, slots=True)
class SignalBaseline:
    """`value`: the signal's median (its own unit); `mean`/`std`: on the detector's scale (log for log signals)."""

    value: float
    mean: float
    std: float
    n: int

    def z(self, spec: SignalSpec, value: float, clip: float) -> float:
        z = (transform(spec, value) - self.mean) / self.std
        return max(-clip, min(clip, z))


@dataclass(frozen=True)
class Baseline:
    signals: Mapping[str, SignalBaseline]
    psi_reference: tuple[float, ...] = ()  # top confidences of the baseline parts
    set_at_s: float = field(default_factory=time.time)
    parts: int = 0
    note: str = ""

    @classmethod
    def fit(cls, samples: Sequence[Mapping[str, float]], specs: Mapping[str, SignalSpec] = SIGNALS,
            note: str = "") -> Baseline:
        """Learn every signal that has at least MIN_PARTS values among `samples` (one dict per part)."""
        if len(samples) < MIN_PARTS:
            raise ValueError(f"baseline: need at least {MIN_PARTS} parts of health samples, got {len(samples)}; "
                             "run the line on known-good parts first")
        out: dict[str, SignalBaseline] = {}
        for name, spec in specs.items():
            values = np.asarray([s[name] for s in samples if name in s and math.isfinite(s[name])], np.float64)
            if values.size < MIN_PARTS:
                continue
            t = np.log(np.maximum(values, 1e-9)) if spec.log else values
            mean = float(t.mean())
            # A floor on the spread: a constant signal (no reviews at all) must not turn one event into 1000 σ.
            floor = max(1e-3 * abs(mean), 1e-9)
            if spec.mode == "delta":
                floor = max(floor, spec.limit / 20.0)
            if np.isin(values, (0.0, 1.0)).all():  # a rate (review, fail-safe): a binomial's spread at least
                floor = max(floor, 0.05)
            std = max(float(t.std(ddof=1)), floor)
            out[name] = SignalBaseline(float(np.median(values)), mean, std, int(values.size))
        reference = tuple(float(s["top_confidence"]) for s in samples if "top_confidence" in s)
        return cls(out, reference[-_PSI_REFERENCE_MAX:], time.time(), len(samples), note)

    def as_dict(self) -> dict[str, Any]:
        return {"signals": {k: {"value": v.value, "mean": v.mean, "std": v.std, "n": v.n}
                            for k, v in self.signals.items()},
                "psi_reference": list(self.psi_reference), "set_at_s": self.set_at_s, "parts": self.parts,
                "note": self.note}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        try:
            signals = {k: SignalBaseline(float(v["value"]), float(v["mean"]), float(v["std"]), int(v["n"]))
                       for k, v in data["signals"].items()}
            return cls(signals, tuple(float(x) for x in data.get("psi_reference", ())), float(data["set_at_s"]),
                       int(data.get("parts", 0)), str(data.get("note", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"health baseline: malformed record ({exc}); set a new baseline") from None
