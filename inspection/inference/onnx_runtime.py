"""`kind: onnx`: a YOLO model exported to ONNX, run by ONNX Runtime (CPU, or CUDA when present).

The ONNX Runtime module of the inference layer: one session setup for every model (`OnnxSession`).
The YOLO detector below and the anomaly model (`inspection.anomaly.runtime`) open their files through
`OnnxSession`, so thread, spinning and provider settings are decided once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from inspection.errors import ConfigError, ModelError
from inspection.inference.exported import ExportedModelOptions, build_detector, resolve_model
from inspection.inference.model import ModelMeta, check_input_shape, meta_from_ultralytics_props, model_file
from inspection.inference.yolo_detector import YoloDetector

__all__ = ["OnnxBackend", "OnnxSession", "Options", "create", "exported_path"]


class Options(ExportedModelOptions):
    kind: Literal["onnx"] = "onnx"
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA when onnxruntime-gpu has it")


def exported_path(pt: Path) -> Path:
    return pt.with_suffix(".onnx")


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("detector kind 'onnx' needs the onnxruntime package: pip install onnxruntime") from None
    return onnxruntime


class OnnxSession:
    """An ONNX Runtime session with the station's settings; `metadata` is the file's custom metadata map."""

    def __init__(self, path: Path, threads: int | None = 0, device: str = "auto") -> None:
        ort = _import_ort()
        self.path = Path(path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        # Spinning threads burn the cores the other pipeline stages need (and other processes on a shared PC).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        elif device == "cuda":
            raise ConfigError("detector.device: cuda, but this onnxruntime has no CUDA provider "
                              "(install onnxruntime-gpu) — or set device: cpu")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelError(f"{self.path}: ONNX Runtime cannot load it ({type(exc).__name__}: {exc})") from None
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.input = self.session.get_inputs()[0]
        self.outputs = self.session.get_outputs()

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(out) for out in self.session.run(None, {self.input.name: batch})]

    def close(self) -> None:
        self.session = None


class OnnxBackend:
    """A YOLO model in ONNX Runtime (the `Backend` protocol)."""

    name = "onnx"

    def __init__(self, path: Path, threads: int = 0, device: str = "auto") -> None:
        self.path = model_file(path, (".onnx",), "onnx")
        self._session = OnnxSession(self.path, threads, device)
        self.meta: ModelMeta = meta_from_ultralytics_props(self._session.metadata, str(self.path))
        self.input_shape = check_input_shape(list(self._session.input.shape), self.meta, str(self.path))
        self.max_batch = 8 if self.input_shape[0] == -1 else self.input_shape[0]
        expected_outputs = 2 if self.meta.task == "segment" else 1
        if len(self._session.outputs) < expected_outputs:
            raise ModelError(f"{self.path}: a {self.meta.task} model needs {expected_outputs} outputs, the file has "
                             f"{len(self._session.outputs)}; re-export it with `station export-model`")

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        return self._session.run(batch)

    def close(self) -> None:
        self._session.close()


def create(options: Options, *, model_path: Path | None = None, **context: Any) -> YoloDetector:
    path = resolve_model(options, model_path, exported_path, "onnx")
    backend = OnnxBackend(path, options.threads, options.device)
    return build_detector(backend, backend.meta, path, options, context, model_path)


# --- plugin hooks (see inspection.adapters.entry_points): `station export-model --format onnx`, `station bench`
DOCS = "docs/models.md"


def export_from_onnx(onnx_path: Path, out: Path, meta: ModelMeta) -> Path:
    """ONNX is the station's base export (written with its metadata by `station export`): nothing to convert."""
    if Path(onnx_path) != Path(out):
        import shutil

        shutil.copyfile(onnx_path, out)
    return Path(out)


def verify_backend(path: Path) -> OnnxBackend:
    return OnnxBackend(path, device="cpu")
