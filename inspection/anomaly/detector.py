"""Detector adapter (kind `anomaly`): a good-only anomaly model as a station detector.

Each connected region of the anomaly map at or above the model's threshold becomes one
`Detection(class_name="anomaly", source="anomaly", polygon=…)` in frame pixels, with a 0..1 confidence
where 0.5 is the model's threshold (see `inspection.anomaly.model.confidence`). The whole map also goes
out, compact (uint8, 128 = threshold), as `DetectorOutput.heatmap` → `Inspection.heatmap`. What an anomaly does to
the verdict is the recipe's call (`classes: {anomaly: {action: review}}` or `fail`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from inspection.anomaly.model import AnomalyMeta, check_image, confidence, preprocess_windows, stitch
from inspection.anomaly.overlay import compact_heatmap
from inspection.anomaly.runtime import SUFFIXES, AnomalyResult, AnomalyRuntime
from inspection.config import AdapterOptions, ConfigPath
from inspection.domain.types import Box, Detection, Frame
from inspection.errors import ConfigError
from inspection.inference import DetectorOutput
from inspection.inference.torch_runtime import resolve_device

__all__ = ["ANOMALY_CLASS", "AnomalyDetector", "Options", "anomaly_regions", "create"]

ANOMALY_CLASS = "anomaly"


class Options(AdapterOptions):
    kind: Literal["anomaly"] = "anomaly"
    model: ConfigPath | None = Field(None, description="anomaly model (.npz, .onnx or OpenVINO .xml); "
                                                       "empty = the recipe's model")
    device: str = Field("cpu", pattern=r"^(auto|cpu|cuda|cuda:\d+)$", description="torch backend only")
    threads: int | None = Field(None, ge=1, le=64, description="CPU threads; empty = library default")
    max_regions: int = Field(20, ge=1, description="report at most this many regions, strongest first")


def create(options: Options, *, model_path: Path | None = None, **_: Any) -> AnomalyDetector:
    path = options.model or model_path
    if path is None:
        raise ConfigError("detector.model: no anomaly model given in the station config nor in the recipe")
    if options.model is None and Path(path).suffix.lower() not in SUFFIXES:
        raise ConfigError(f"detector.model: the recipe's model {path} is not an anomaly model "
                          f"({', '.join(SUFFIXES)}); set `model:` in the anomaly detector section")
    return AnomalyDetector(path, options)


class AnomalyDetector:
    """Detector port over `AnomalyRuntime`. `last_result` keeps the latest map for display."""

    task = "anomaly"
    class_names: tuple[str, ...] = (ANOMALY_CLASS,)

    def __init__(self, path: Path | str, options: Options | None = None) -> None:
        self.options = options or Options()
        device = resolve_device(self.options.device)
        self.runtime = AnomalyRuntime(path, device=device, threads=self.options.threads)
        self.meta = self.runtime.meta
        self.model_id = self.runtime.model_id
        self.last_result: AnomalyResult | None = None

    def warmup(self, frame: Frame, runs: int = 2) -> None:
        """Warm up on a blank image of the model's own size (the station's warm-up frame may not match)."""
        blank = np.zeros(self.meta.sample_shape(), np.uint8)
        for _ in range(runs):
            self.runtime.score_images([blank])

    def detect(self, frame: Frame) -> DetectorOutput:
        t0 = time.perf_counter()
        check_image(frame.image, self.meta, f"frame {frame.key}")
        batch, windows = preprocess_windows(frame.image, self.meta)
        t1 = time.perf_counter()
        maps, scores = self.runtime.run(batch)
        t2 = time.perf_counter()
        amap, score = stitch(maps, scores, windows, frame.image.shape, self.meta)
        result = AnomalyResult(score, float(confidence(score, self.meta)), self.meta.threshold, amap)
        self.last_result = result
        detections = anomaly_regions(result, frame.image.shape[:2], self.meta, self.options.max_regions)
        heat = compact_heatmap(result, self.meta.border_px)  # for the console's heat map and the archive
        t3 = time.perf_counter()
        return DetectorOutput(detections, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, heatmap=heat)

    def close(self) -> None:
        self.last_result = None


def anomaly_regions(result: AnomalyResult, frame_shape: tuple[int, ...], meta: AnomalyMeta,
                    max_regions: int = 20) -> tuple[Detection, ...]:
    """Connected regions of the map at/above the threshold → detections in frame pixels."""
    if not result.is_anomalous:
        return ()
    amap = result.anomaly_map
    mask = result.mask(meta.border_px)  # the border is not scored, so it cannot make a region either
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    sy, sx = frame_shape[0] / amap.shape[0], frame_shape[1] / amap.shape[1]
    regions = []
    for label in range(1, count):
        region = labels == label
        peak = float(amap[region].max())
        regions.append((peak, label, region))
    regions.sort(key=lambda r: -r[0])
    detections = []
    for peak, label, region in regions[:max_regions]:
        x, y, w, h = (int(v) for v in stats[label, :4])
        box = Box(x * sx, y * sy, (x + w) * sx, (y + h) * sy)
        detections.append(Detection(
            class_name=ANOMALY_CLASS, confidence=float(confidence(peak, meta)), box=box,
            polygon=_outline(region, box, sx, sy), source="anomaly",
            attributes={"score": f"{peak:.4g}", "threshold": f"{result.threshold:.4g}",
                        "image_score": f"{result.score:.4g}"},
        ))
    return tuple(detections)


def _outline(region: np.ndarray, box: Box, sx: float, sy: float) -> tuple[tuple[float, float], ...]:
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if contours:
        contour = max(contours, key=cv2.contourArea)
        contour = cv2.approxPolyDP(contour, 1.0, True).reshape(-1, 2)
        if len(contour) >= 3 and cv2.contourArea(contour.astype(np.float32)) > 0:
            return tuple((float(px) * sx, float(py) * sy) for px, py in contour)
    # a one-pixel-wide region has no area as a contour: its box is the outline
    return ((box.x1, box.y1), (box.x2, box.y1), (box.x2, box.y2), (box.x1, box.y2))
