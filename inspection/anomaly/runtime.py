"""Anomaly runtime: load a model file (torch `.npz`, `.onnx` or OpenVINO `.xml`) and score images.

The backend follows the file, as for the YOLO detector: `.npz` runs the PatchCore torch module over the
bundled backbone; `.onnx` runs in onnxruntime and `.xml` in OpenVINO, each with the model's meta
(threshold included) embedded in the file, so neither needs torch. All three return the same thing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inspection.adapters.extras import needs_train
from inspection.anomaly.model import (
    AnomalyMeta,
    check_image,
    confidence,
    load_npz_model,
    preprocess_windows,
    stitch,
)
from inspection.errors import ModelError
from inspection.inference import model_id_for

__all__ = ["META_KEY", "SUFFIXES", "AnomalyResult", "AnomalyRuntime"]

META_KEY = "inspection_anomaly_meta"
SUFFIXES = (".npz", ".onnx", ".xml")


@dataclass(frozen=True, slots=True)
class AnomalyResult:
    """One image's verdict from the anomaly model. `anomaly_map` is imgsz×imgsz raw scores (float32)."""

    score: float
    confidence: float
    threshold: float
    anomaly_map: np.ndarray

    @property
    def is_anomalous(self) -> bool:
        return not self.score < self.threshold  # a NaN score (a damaged model) is never a pass

    def mask(self, border_px: int = 0) -> np.ndarray:
        """uint8 map-sized mask of the pixels at/above the threshold, outside the unscored border."""
        mask = (self.anomaly_map >= self.threshold).astype(np.uint8)
        if border_px:
            b = border_px
            mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = 0, 0, 0, 0
        return mask


class _Backend(Protocol):
    """`inspection.inference.model.Backend` plus the anomaly meta; the sessions come from the shared
    runtime modules (`inspection.inference.onnx_runtime` / `openvino_runtime` / `torch_runtime`).
    `forward` returns [maps (N×S×S), scores (N,)]."""

    name: str
    meta: AnomalyMeta
    input_shape: tuple[int, int, int, int]
    max_batch: int

    def forward(self, batch: np.ndarray) -> list[np.ndarray]: ...

    def close(self) -> None: ...


class _BackendBase:
    meta: AnomalyMeta
    max_batch = 8

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (-1, 3, self.meta.imgsz, self.meta.imgsz)

    def close(self) -> None:
        """Nothing to release beyond what garbage collection frees."""


class _TorchBackend(_BackendBase):
    name = "torch"

    def __init__(self, path: Path, device: str, threads: int | None) -> None:
        try:
            import torch
        except ImportError as exc:  # the lean install runs the .onnx / .xml export instead
            raise needs_train(str(path), exc, "or run its `station anomaly export` (.onnx / .xml)") from None

        from inspection.anomaly.network import scorer_for
        from inspection.inference.torch_runtime import set_threads

        set_threads(threads)
        model = load_npz_model(path)
        self.meta = model.meta
        self._torch = torch
        self._device = device
        self._scorer = scorer_for(model)
        self._scorer.to(device)

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        with self._torch.inference_mode():
            maps, scores = self._scorer(self._torch.from_numpy(batch).to(self._device))
        return [maps.cpu().numpy(), scores.cpu().numpy()]


class _OnnxBackend(_BackendBase):
    name = "onnx"

    def __init__(self, path: Path, threads: int | None) -> None:
        from inspection.inference.onnx_runtime import OnnxSession

        self._session = OnnxSession(path, threads, device="cpu")
        text = self._session.metadata.get(META_KEY)
        if text is None:
            raise ModelError(f"{path}: an ONNX file without anomaly metadata; export it with "
                             f"`station anomaly export`")
        self.meta = AnomalyMeta.from_json(text, str(path))

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        return self._session.run(batch)


class _OpenVinoBackend(_BackendBase):
    name = "openvino"

    def __init__(self, path: Path, threads: int | None) -> None:
        from inspection.inference.openvino_runtime import compile_model, read_model

        model = read_model(path)
        if not model.has_rt_info([META_KEY]):
            raise ModelError(f"{path}: an OpenVINO model without anomaly metadata; export it with "
                             f"`station anomaly export --format openvino`")
        self.meta = AnomalyMeta.from_json(model.get_rt_info([META_KEY]).astype(str), str(path))
        # f32: on CPUs with bf16 units OpenVINO would otherwise compute in bf16 and shift the scores
        # against the threshold the model was validated with
        config: dict[str, object] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled = compile_model(model, path, "CPU", config)

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        result = self._compiled(batch)
        return [np.asarray(result[0]), np.asarray(result[1])]


class AnomalyRuntime:
    """A loaded anomaly model: `analyse(image)` → AnomalyResult. Thread-safe (one pass at a time)."""

    def __init__(self, path: Path | str, device: str = "cpu", threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"anomaly model {self.path} does not exist; fit one with `station anomaly fit`")
        suffix = self.path.suffix.lower()
        if suffix == ".npz":
            self._backend: _Backend = _TorchBackend(self.path, device, threads)
        elif suffix == ".onnx":
            self._backend = _OnnxBackend(self.path, threads)
        elif suffix == ".xml":
            self._backend = _OpenVinoBackend(self.path, threads)
        else:
            raise ModelError(f"{self.path}: unknown anomaly model type {suffix!r}; expected {', '.join(SUFFIXES)}")
        self.backend = self._backend.name
        self.meta = self._backend.meta
        self.model_id = model_id_for(self.path)
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw backend pass on a preprocessed batch (see `inspection.anomaly.model.preprocess`)."""
        with self._lock:
            maps, scores = self._backend.forward(batch)
        return maps, scores

    def score_images(self, images: list[np.ndarray], batch_size: int = 4) -> tuple[Any, np.ndarray]:
        """Anomaly maps and image scores (N,) for checked uint8 images. The maps are one N×S×S array when
        they share a shape (always for a "stretch" model), else a list (a "windows" model keeps each
        image's proportions)."""
        for i, image in enumerate(images):
            check_image(image, self.meta, f"image {i}")
        out_maps: list[np.ndarray] = []
        out_scores: list[float] = []
        for first in range(0, len(images), batch_size):  # a few images at a time: bounded memory
            group = images[first:first + batch_size]
            prepared = [preprocess_windows(image, self.meta) for image in group]
            tensors = np.concatenate([batch for batch, _ in prepared])
            outputs = [self.run(tensors[i:i + batch_size]) for i in range(0, len(tensors), batch_size)]
            maps = np.concatenate([m for m, _ in outputs]).astype(np.float32)
            scores = np.concatenate([s for _, s in outputs]).astype(np.float64)
            at = 0
            for image, (_, windows) in zip(group, prepared, strict=True):
                amap, score = stitch(maps[at:at + len(windows)], scores[at:at + len(windows)], windows,
                                     image.shape, self.meta)
                out_maps.append(amap)
                out_scores.append(score)
                at += len(windows)
        same = len({m.shape for m in out_maps}) <= 1
        return (np.stack(out_maps) if same and out_maps else out_maps), np.asarray(out_scores, np.float64)

    def analyse(self, image: np.ndarray) -> AnomalyResult:
        maps, scores = self.score_images([image], batch_size=8)
        score = float(scores[0])
        return AnomalyResult(score, float(confidence(score, self.meta)), self.meta.threshold, maps[0])

    def close(self) -> None:
        self._backend.close()
