"""Detector port: a frame in, core `Detection`s out, with the time each step took.

"Detector" is a stage, not one model: YOLO detection/segmentation, a good-only anomaly model and the
AOI path all implement this port and all return the same `Detection` type.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from inspection.domain.types import Detection, Frame

__all__ = ["Detector", "DetectorOutput", "file_sha256", "model_id_for", "resolve_device"]


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


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def model_id_for(path: Path) -> str:
    """`name@sha256-prefix`: every logged verdict records exactly which model file made it."""
    return f"{path.stem}@{file_sha256(path)[:12]}"


def resolve_device(device: str) -> str:
    """`auto` → first CUDA GPU when present, else CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"
