"""Detector adapter (kind `combined`): several detectors on the same frame, one list of detections.

The usual pairing is a YOLO detector (known defect classes) beside a good-only anomaly model (anything
unusual). An anomaly region that a class detector already explains (its box lies mostly inside a
detection of a known class) is dropped, so what remains of class `anomaly` is an *unknown* defect and
the recipe decides what that means (`classes: {anomaly: {action: review}}` queues it for review so it
can become a new class; `action: fail` rejects it as an unknown defect).

```yaml
detector:
  kind: combined
  detectors:
    - {kind: ultralytics}                       # the recipe's model
    - {kind: anomaly, model: models/panel_anomaly.npz}
  explained_overlap: 0.5
```
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from inspection.adapters.registry import adapter_module, create_adapter
from inspection.config import AdapterOptions, format_validation_error
from inspection.domain.types import Box, Detection, Frame
from inspection.errors import ConfigError
from inspection.inference import Detector, DetectorOutput

__all__ = ["CombinedDetector", "Options", "create", "drop_explained"]


class Options(AdapterOptions):
    kind: Literal["combined"] = "combined"
    detectors: list[AdapterOptions] = Field(min_length=1, description="detector sections, run in this order")
    explained_overlap: float = Field(
        0.5, ge=0.0, le=1.0,
        description="drop an anomaly region when this fraction of its box lies inside a known-class detection "
                    "(0 keeps every anomaly region)")

    @field_validator("detectors", mode="before")
    @classmethod
    def _validate_each(cls, value: Any, info: ValidationInfo) -> Any:
        """Each entry is validated by the options model of its own `kind` (same rules as `detector:`)."""
        if not isinstance(value, list):
            return value
        validated = []
        for i, raw in enumerate(value):
            if isinstance(raw, AdapterOptions):
                validated.append(raw)
                continue
            if not isinstance(raw, dict) or "kind" not in raw:
                raise ValueError(f"detectors.{i}: expected a mapping with a 'kind:' key, got {raw!r}")
            if raw["kind"] == "combined":
                raise ValueError(f"detectors.{i}: a combined detector cannot contain another combined detector")
            try:
                module = adapter_module("detector", raw["kind"])
                validated.append(module.Options.model_validate(raw, context=info.context))
            except ConfigError as exc:
                raise ValueError(f"detectors.{i}.kind: {exc}") from None
            except ValidationError as exc:
                lines = format_validation_error(exc, "", f"detectors.{i}").splitlines()
                raise ValueError("; ".join(line.removeprefix(": ") for line in lines)) from None
        return validated


def create(options: Options, **context: Any) -> CombinedDetector:
    detectors: list[Detector] = []
    try:
        for sub in options.detectors:
            detectors.append(create_adapter("detector", sub, **context))
    except BaseException:
        for detector in detectors:
            detector.close()
        raise
    return CombinedDetector(detectors, options.explained_overlap)


class CombinedDetector:
    """Runs its detectors one after another on each frame and merges what they found."""

    task = "combined"

    def __init__(self, detectors: list[Detector], explained_overlap: float = 0.5) -> None:
        if not detectors:
            raise ConfigError("detector.detectors: a combined detector needs at least one detector")
        self.detectors = list(detectors)
        self.explained_overlap = explained_overlap
        names: list[str] = []
        for detector in self.detectors:
            names.extend(n for n in detector.class_names if n not in names)
        self.class_names = tuple(names)
        self.model_id = "+".join(d.model_id for d in self.detectors)

    def warmup(self, frame: Frame) -> None:
        for detector in self.detectors:
            detector.warmup(frame)

    def detect(self, frame: Frame) -> DetectorOutput:
        outputs = [detector.detect(frame) for detector in self.detectors]
        detections = tuple(d for out in outputs for d in out.detections)
        return DetectorOutput(
            drop_explained(detections, self.explained_overlap),
            preprocess_ms=sum(o.preprocess_ms for o in outputs),
            infer_ms=sum(o.infer_ms for o in outputs),
            postprocess_ms=sum(o.postprocess_ms for o in outputs),
            heatmap=_merged_heatmap([o.heatmap for o in outputs if o.heatmap is not None]),
        )

    def close(self) -> None:
        errors = []
        for detector in self.detectors:
            try:
                detector.close()
            except Exception as exc:  # close them all, then report
                errors.append(exc)
        if errors:
            raise errors[0]


def _merged_heatmap(maps: list[np.ndarray]) -> np.ndarray | None:
    """One heat map for the frame: the first anomaly model's, raised to any other's of the same size (all
    share the same scale, 128 = each model's own threshold, so the maximum keeps every unusual region)."""
    if not maps:
        return None
    merged = maps[0]
    for other in maps[1:]:
        if other.shape == merged.shape:
            merged = np.maximum(merged, other)
    return merged


def _inside_fraction(inner: Box, outer: Box) -> float:
    w = min(inner.x2, outer.x2) - max(inner.x1, outer.x1)
    h = min(inner.y2, outer.y2) - max(inner.y1, outer.y1)
    if w <= 0 or h <= 0:
        return 0.0
    return (w * h) / max(inner.area, 1e-9)


def drop_explained(detections: tuple[Detection, ...], overlap: float) -> tuple[Detection, ...]:
    """Remove anomaly regions mostly covered by a detection of a known class (it is not unknown)."""
    if overlap <= 0.0:
        return detections
    known = [d.box for d in detections if d.source != "anomaly"]
    return tuple(
        d for d in detections
        if d.source != "anomaly" or not any(_inside_fraction(d.box, k) >= overlap for k in known)
    )
