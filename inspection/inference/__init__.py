"""Inference: the Detector port, its staged form, model identity; one module per runtime below it.

"Detector" is a stage, not one model: YOLO detection/segmentation, a good-only anomaly model and the
AOI path all implement this port and all return the same `Detection` type.

Layout of this package (see docs/architecture.md):
- here: `Detector`, `DetectorOutput`, `StagedDetector` + `Prepared` (stages the runtime overlaps),
  `model_id_for` / `file_sha256` (which model file made a verdict);
- one module per runtime, shared by YOLO, the anomaly model and the joint classifier:
  `torch_runtime` (ultralytics/torch), `onnx_runtime`, `openvino_runtime`, `tensorrt_runtime`;
- YOLO in one place: `yolo` (letterbox, decode, NMS, masks), `model` (exported-model metadata, the
  `Backend` protocol), `yolo_detector` (the detector over any backend), `exported` (shared options).
Export and quantisation are build-time work and live in `training/`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from inspection.adapters.registry import create_adapter
from inspection.domain.types import Detection, Frame
from inspection.errors import ConfigError

if TYPE_CHECKING:
    from inspection.domain.recipe import Recipe

__all__ = ["Detector", "DetectorOutput", "Prepared", "StagedDetector", "create_detector", "file_sha256", "model_id_for"]


@dataclass(frozen=True, slots=True)
class DetectorOutput:
    """What a detector found in one frame. `heatmap` is the anomaly model's compact uint8 map (128 = its
    threshold, see `inspection.anomaly.overlay.compact_heatmap`); None for detectors without one."""

    detections: tuple[Detection, ...]
    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    postprocess_ms: float = 0.0
    heatmap: np.ndarray | None = None


@runtime_checkable
class Detector(Protocol):
    model_id: str
    class_names: tuple[str, ...]
    task: str

    def warmup(self, frame: Frame) -> None:
        """Run the model a few times so the first real part is not many times slower."""
        ...

    def detect(self, frame: Frame) -> DetectorOutput: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class Prepared:
    """One frame ready for the network: its (pooled) input tensors, one per tile."""

    frame: Frame
    inputs: list[np.ndarray]
    boxes: list[Any]  # per tile, how it was placed into the network input (e.g. `yolo.Letterbox`)
    preprocess_ms: float
    infer_ms: float = 0.0
    outputs: list[list[np.ndarray]] = field(default_factory=list)  # per tile: the network outputs
    result: DetectorOutput | None = None  # set by detectors that run all stages in `forward`


@runtime_checkable
class StagedDetector(Protocol):
    """A detector whose stages the runtime can run on separate threads.

    The network stage is `start(items, queued)` then `complete(handle)`: `start` may return before the network
    has run (asynchronous requests), so the runtime can have up to `in_flight` calls under way and collects
    them in order; `queued`: more parts wait behind these. `forward(items)` is both at once."""

    max_batch: int
    in_flight: int

    def prepare(self, frame: Frame) -> Prepared: ...

    def forward(self, items: list[Prepared]) -> None: ...

    def start(self, items: list[Prepared], queued: bool = False) -> Any: ...

    def complete(self, handle: Any) -> None: ...

    def finish(self, item: Prepared) -> DetectorOutput: ...

    def release(self, item: Prepared) -> None: ...


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def model_id_for(path: Path) -> str:
    """`name@sha256-prefix`: every logged verdict records exactly which model file made it."""
    return f"{path.stem}@{file_sha256(path)[:12]}"


def create_detector(options: Any, recipe: Recipe, model_path: Path | None) -> Any:
    """The configured detector adapter for a recipe, with the recipe's `tiling:` and `tta:` sections.
    A detector that cannot apply a section (the ultralytics one runs whole frames only, a plugin's may
    know neither) is refused, so a recipe never runs without the tiles or flips it was tuned with."""
    detector = create_adapter("detector", options, model_path=model_path, tiling=recipe.tiling, tta=recipe.tta)
    able = {"tiling": "an exported-model detector (kind: onnx, openvino or tensorrt)",
            "tta": "a YOLO detector (kind: ultralytics, onnx, openvino or tensorrt)"}
    for section, needed in able.items():
        if getattr(recipe, section) is not None and getattr(detector, section, None) is None:
            detector.close()
            raise ConfigError(f"{recipe.source_file or recipe.name}: {section}: needs {needed}, "
                              f"not {options.kind!r}")
    return detector
