"""Detector adapter over an ultralytics YOLO model (detection or segmentation), kept offline.

The torch module of the inference layer: `resolve_device` / `set_threads` are used by the YOLO `.pt`
detector below, the anomaly model's torch scorer and the AOI joint classifier, so all torch models on
the station pick devices and threads the same way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from inspection.adapters.extras import needs_train
from inspection.config import AdapterOptions, ConfigPath
from inspection.domain.tta import TtaOptions, flip_image, fuse_copies, unflip_boxes, unflip_points
from inspection.domain.types import Box, Detection, Frame
from inspection.errors import ConfigError, ModelError
from inspection.inference import DetectorOutput, model_id_for
from inspection.inference.model_files import check_model_file
from inspection.inference.offline import ensure_offline

__all__ = ["Options", "UltralyticsDetector", "create", "load_yolo", "resolve_device", "set_threads"]


def resolve_device(device: str) -> str:
    """`auto` → first CUDA GPU when present, else CPU."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:  # the lean install: no torch, so no CUDA through it either
        return "cpu"

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def set_threads(threads: int | None) -> None:
    """CPU threads for torch inference; None/0 keeps torch's default (process-wide, as torch decides)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


class Options(AdapterOptions):
    kind: Literal["ultralytics"] = "ultralytics"
    model: ConfigPath | None = Field(None, description="model file (.pt); empty = the recipe's model")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda|cuda:\d+|mps)$")
    imgsz: int | None = Field(None, ge=32, le=4096, description="inference size; empty = as trained")
    conf: float = Field(0.05, ge=0.0, le=1.0, description="model-level floor; the recipe decides what counts")
    iou: float = Field(0.5, gt=0.0, le=1.0)
    max_det: int = Field(300, ge=1)
    half: bool = Field(False, description="FP16 on CUDA")


def create(options: Options, *, model_path: Path | None = None, **context: Any) -> UltralyticsDetector:
    path = options.model or model_path
    if path is None:
        raise ConfigError("detector.model: no model file given in the station config nor in the recipe")
    tta = context.get("tta")
    return UltralyticsDetector(path, options, tta if isinstance(tta, TtaOptions) else None)


def load_yolo(path: Path) -> Any:
    """Load a YOLO model file with errors a line engineer can act on."""
    try:
        path = check_model_file(path)  # refuses a pickle that names anything but layer classes
        ensure_offline()
        from ultralytics import YOLO
    except ImportError as exc:  # the lean install has no torch / ultralytics
        raise needs_train(str(path), exc) from None
    try:
        return YOLO(str(path))
    except Exception as exc:  # ultralytics raises many types for a bad file
        raise ModelError(f"{path} is not a loadable ultralytics model ({type(exc).__name__}: {exc})") from None


class UltralyticsDetector:
    """Whole frames through ultralytics' own `predict` (no tiling); with `tta`, the frame and its flipped
    copies in one batch, fused by the same box voting as the exported-model detector."""

    def __init__(self, path: Path, options: Options, tta: TtaOptions | None = None) -> None:
        self.options = options
        self.tta = tta
        self.path = Path(path)
        self._model = load_yolo(self.path)
        self.task = str(self._model.task)
        if self.task not in ("detect", "segment"):
            raise ModelError(f"{self.path}: a {self.task!r} model; the station needs a detect or segment model")
        names = self._model.names
        self.class_names = tuple(names[i] for i in sorted(names))
        self.model_id = model_id_for(self.path)
        self.device = resolve_device(options.device)
        self.imgsz = options.imgsz or _trained_imgsz(self._model) or 640
        self._lock = threading.Lock()  # one forward pass at a time per model instance

    def warmup(self, frame: Frame, runs: int = 3) -> None:
        for _ in range(runs):
            self.detect(frame)

    def detect(self, frame: Frame) -> DetectorOutput:
        image = frame.image if frame.image.ndim == 3 else cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR)
        flips = self.tta.flips if self.tta else []
        with self._lock:
            results = self._model.predict(
                [image, *(flip_image(image, f) for f in flips)], imgsz=self.imgsz, conf=self.options.conf,
                iou=self.options.iou, max_det=self.options.max_det, device=self.device, half=self.options.half,
                verbose=False, save=False,
            )
        speed = results[0].speed
        detections = self._convert(results[0]) if not flips else self._vote(results, flips, image.shape[:2])
        return DetectorOutput(
            detections=detections,
            preprocess_ms=float(speed.get("preprocess") or 0.0) * len(results),
            infer_ms=float(speed.get("inference") or 0.0) * len(results),
            postprocess_ms=float(speed.get("postprocess") or 0.0) * len(results),
        )

    def close(self) -> None:
        self._model = None

    def _vote(self, results: list[Any], flips: list[str], shape: tuple[int, int]) -> tuple[Detection, ...]:
        """The copies' detections mapped back onto the frame, fused by box voting (inspection.domain.tta)."""
        assert self.tta is not None
        height, width = shape
        copies = []
        for result, flip in zip(results, ["", *flips], strict=True):
            xyxy, confs, classes, polys = _arrays(result)
            if flip:
                xyxy = unflip_boxes(xyxy, flip, width, height)
                polys = [None if p is None else unflip_points(p, flip, width, height) for p in polys]
            copies.append((xyxy, confs, classes, polys))
        return self._detections(*fuse_copies(copies, self.tta.merge_iou, self.options.max_det))

    def _convert(self, result: Any) -> tuple[Detection, ...]:
        return self._detections(*_arrays(result))

    def _detections(self, xyxy: np.ndarray, confs: np.ndarray, classes: np.ndarray,
                    polygons: list[np.ndarray | None]) -> tuple[Detection, ...]:
        return tuple(
            Detection(
                class_name=self.class_names[c], class_id=int(c), confidence=float(np.clip(p, 0.0, 1.0)),
                box=Box(*map(float, b)), polygon=_polygon(poly),
            )
            for b, p, c, poly in zip(xyxy, confs, classes, polygons, strict=True)
        )


def _arrays(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray | None]]:
    """One ultralytics result as boxes (xyxy), confidences, class ids and outlines (None without masks)."""
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), []
    xyxy = boxes.xyxy.cpu().numpy().astype(float)
    polygons = list(result.masks.xy) if result.masks is not None else [None] * len(xyxy)
    return xyxy, boxes.conf.cpu().numpy().astype(float), boxes.cls.cpu().numpy().astype(int), polygons


def _polygon(points: np.ndarray | None) -> tuple[tuple[float, float], ...] | None:
    if points is None or len(points) < 3:
        return None
    return tuple((float(x), float(y)) for x, y in points)


def _trained_imgsz(model: Any) -> int | None:
    args = getattr(getattr(model, "model", None), "args", None) or {}
    size = args.get("imgsz") if isinstance(args, dict) else getattr(args, "imgsz", None)
    if isinstance(size, list | tuple):
        size = max(size)
    return int(size) if isinstance(size, int | float) else None
