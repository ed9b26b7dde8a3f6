"""`kind: tensorrt`: a YOLO model compiled to a TensorRT engine (NVIDIA GPUs).

Import-guarded: a station without the `tensorrt` package (every CPU-only PC) gets a clear start-up
error naming the package, not an ImportError mid-shift. Engines are built on the GPU that runs them
(`station export-model --format onnx`, then `trtexec --onnx=model.onnx --saveEngine=model.engine`, or
ultralytics' `format="engine"`); the metadata travels in `<engine>.json` written beside it by
`training.export.write_meta_sidecar`. Device buffers are torch CUDA tensors, so the only
extra package is `tensorrt` itself.

Status: written against the TensorRT 10 tensor API; not exercised in CI (no GPU on the CI machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from inspection.errors import ConfigError, ModelError
from inspection.inference.exported import ExportedModelOptions, build_detector, resolve_model
from inspection.inference.model import ModelMeta, check_input_shape, model_file
from inspection.inference.yolo_detector import YoloDetector

__all__ = ["Options", "TensorRtBackend", "create", "exported_path", "import_tensorrt"]


class Options(ExportedModelOptions):
    kind: Literal["tensorrt"] = "tensorrt"
    device: int = 0


def exported_path(pt: Path) -> Path:
    return pt.with_suffix(".engine")


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError:
        raise ConfigError(
            "detector kind 'tensorrt' needs NVIDIA TensorRT, which is not installed: `pip install tensorrt` on a "
            "PC with an NVIDIA GPU and CUDA driver — or use kind: onnx / openvino on this PC"
        ) from None
    return tensorrt


class TensorRtBackend:
    name = "tensorrt"

    def __init__(self, path: Path, device: int = 0) -> None:
        trt = import_tensorrt()
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("detector kind 'tensorrt': no CUDA GPU visible; use kind: onnx or openvino")
        self.path = model_file(path, (".engine", ".plan"), "tensorrt")
        sidecar = self.path.with_suffix(".json")
        if not sidecar.is_file():
            raise ModelError(f"{self.path}: metadata {sidecar} missing; write it with "
                             f"`python -m training.export meta {self.path} --from MODEL.pt`")
        self.meta = ModelMeta.from_json(sidecar.read_text(encoding="utf-8"))
        self._torch, self._device = torch, torch.device(f"cuda:{device}")
        logger = trt.Logger(trt.Logger.WARNING)
        with open(self.path, "rb") as handle, trt.Runtime(logger) as runtime:
            self.engine = runtime.deserialize_cuda_engine(handle.read())
        if self.engine is None:
            raise ModelError(f"{self.path}: not a TensorRT engine for this TensorRT version / GPU; rebuild it here")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self._input = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self._outputs = [n for n in names if n != self._input]
        self.input_shape = check_input_shape(list(self.engine.get_tensor_shape(self._input)), self.meta,
                                             str(self.path))
        self.max_batch = max(self.input_shape[0], 1)
        self._stream = torch.cuda.Stream(self._device)

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        torch = self._torch
        x = torch.from_numpy(batch).to(self._device, non_blocking=True)
        self.context.set_input_shape(self._input, tuple(x.shape))
        self.context.set_tensor_address(self._input, x.data_ptr())
        outs = []
        for name in self._outputs:
            out = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=torch.float32, device=self._device)
            self.context.set_tensor_address(name, out.data_ptr())
            outs.append(out)
        self.context.execute_async_v3(self._stream.cuda_stream)
        self._stream.synchronize()
        return [o.cpu().numpy() for o in outs]

    def close(self) -> None:
        self.context = None
        self.engine = None


def create(options: Options, *, model_path: Path | None = None, **context: Any) -> YoloDetector:
    import_tensorrt()  # before any file lookup: the missing package is the thing to fix first
    path = resolve_model(options, model_path, exported_path, "tensorrt")
    backend = TensorRtBackend(path, options.device)
    return build_detector(backend, backend.meta, path, options, context, model_path)
