"""`kind: openvino`: a YOLO model run by OpenVINO (Intel CPUs and GPUs; reads .xml IR or .onnx).

The OpenVINO module of the inference layer: the YOLO detector below and the anomaly model
(`inspection.anomaly.runtime`) both go through `read_model` / `compile_model`, so errors and device
handling are written once.

Precision: OpenVINO's default on CPUs with AMX/AVX512-BF16 is to compute in bfloat16 even for an FP32
model (`precision: auto`). That is much faster here (Sapphire Rapids: ~15 ms vs ~39 ms for yolov8n
at 640), and `station export-model` verifies its deviation from the original; set `precision: f32` for
bit-for-bit FP32 behaviour.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from inspection.errors import ConfigError, ModelError
from inspection.inference.exported import ExportedModelOptions, build_detector, resolve_model
from inspection.inference.model import (
    META_KEY,
    FinishedForward,
    ModelMeta,
    PendingForward,
    check_input_shape,
    meta_from_ultralytics_props,
    model_file,
)
from inspection.inference.yolo_detector import YoloDetector

__all__ = ["OpenVinoBackend", "Options", "compile_model", "convert_onnx", "create", "exported_path", "read_meta",
           "read_model"]


class Options(ExportedModelOptions):
    kind: Literal["openvino"] = "openvino"
    device: str = Field("CPU", pattern=r"^(CPU|GPU(\.\d+)?|NPU|AUTO)$", description="OpenVINO device name")
    precision: Literal["auto", "f32", "bf16", "f16"] = Field(
        "auto", description="inference precision hint; auto = OpenVINO's default for the device")
    hint: Literal["auto", "latency", "throughput"] = Field(
        "auto", description="latency: one call uses all threads; throughput: parallel streams, one thread "
        "each (more parts per second, each one slower); auto: both compiled, a part alone goes the latency "
        "way, parts that queue up the throughput way (on the CPU; other devices: latency). auto compiles the "
        "model twice: twice the compile time at start and the model's memory")
    fused_preprocessing: bool = Field(
        True, description="feed uint8 BGR; OpenVINO converts, swaps to RGB and scales inside the compiled model")
    requests: int = Field(
        0, ge=0, le=8, description="network calls the station keeps in flight at once; 0 = what OpenVINO finds "
        "optimal for the hint (latency: 1; throughput and auto: one per stream, so every stream has a part to "
        "work on)")
    batch: int = Field(
        0, ge=0, le=16, description="frames one network call may take (parts waiting under load, cameras, tiles); "
        "0 = as exported (a variable-batch export: up to 8). Above 1 it needs a variable-batch export "
        "(station export-model --dynamic-batch) and bounds it to 1…batch")


def exported_path(pt: Path) -> Path:
    return pt.with_suffix(".xml")


def _import_ov() -> Any:
    try:
        import openvino
    except ImportError:
        raise ConfigError("detector kind 'openvino' needs the openvino package: pip install openvino") from None
    return openvino


def read_model(path: Path) -> Any:
    """An `openvino.Model` from .xml IR or .onnx, with an error that names the file."""
    ov = _import_ov()
    try:
        return ov.Core().read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError for anything it cannot read
        raise ModelError(f"{path}: OpenVINO cannot read it ({type(exc).__name__}: {exc})") from None


def compile_model(model: Any, path: Path, device: str = "CPU", config: dict[str, Any] | None = None) -> Any:
    """Compile for `device` with `config` (OpenVINO properties); an error that names file and device."""
    ov = _import_ov()
    try:
        return ov.Core().compile_model(model, device, config or {})
    except Exception as exc:
        raise ModelError(f"{path}: OpenVINO cannot compile it for {device} ({exc})") from None


def read_meta(model: Any, path: Path) -> ModelMeta:
    """Our metadata from rt_info (written by `station export-model`), else ultralytics' metadata.yaml beside it."""
    if model.has_rt_info([META_KEY]):
        return ModelMeta.from_json(str(model.get_rt_info([META_KEY]).astype(str)))
    if model.has_rt_info(["model_info"]):  # ultralytics-written ONNX/IR sometimes carries it here
        info = model.get_rt_info(["model_info"])
        try:
            return meta_from_ultralytics_props({k: str(info[k].astype(str)) for k in ("names", "imgsz", "task")},
                                               str(path))
        except (KeyError, RuntimeError):
            pass
    sidecar = path.with_name("metadata.yaml")
    if sidecar.is_file():
        import yaml

        data = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
        return meta_from_ultralytics_props({k: json.dumps(v) if k != "task" else str(v)
                                            for k, v in data.items()}, str(path))
    if path.suffix.lower() == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return meta_from_ultralytics_props(props, str(path))
    return meta_from_ultralytics_props({}, str(path))


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, path: Path, threads: int = 0, device: str = "CPU", precision: str = "auto",
                 hint: str = "latency", fused_preprocessing: bool = False, requests: int = 1,
                 batch: int = 0) -> None:
        """`requests`: network calls `submit` may have in flight (0 = OpenVINO's optimal number for the hint).
        `batch`: frames per call at most (0 = the exported batch; a dynamic export takes up to 8)."""
        ov = _import_ov()
        self.path = model_file(path, (".xml", ".onnx"), "openvino")
        model = read_model(self.path)
        self.meta = read_meta(model, self.path)
        shape = [d.get_length() if d.is_static else -1 for d in model.inputs[0].get_partial_shape()]
        self.input_shape = check_input_shape(shape, self.meta, str(self.path))
        if batch > 1:  # bounded, so the CPU plugin plans its buffers for at most `batch` frames
            if self.input_shape[0] != -1:  # a static export bakes its batch into inner reshapes
                raise ModelError(f"{self.path}: detector batch {batch} needs a model exported with a variable batch "
                                 f"(this one takes {self.input_shape[0]} frame(s) per call): station export-model "
                                 "--dynamic-batch, or leave batch at 0")
            model.reshape({model.inputs[0]: ov.PartialShape([ov.Dimension(1, batch), 3, *self.meta.imgsz])})
        elif self.input_shape[0] == -1 or any(d == -1 for d in shape[2:]):
            # A dynamic model: fix H, W to the trained size; keep the batch dynamic for cross-camera batches.
            model.reshape({model.inputs[0]: ov.PartialShape([-1, 3, *self.meta.imgsz])})
        self.max_batch = batch if batch > 1 else 8 if self.input_shape[0] == -1 else self.input_shape[0]
        self.input_format = "f32_nchw_rgb"
        if fused_preprocessing:
            model = _fuse_preprocessing(model)
            self.input_format = "u8_nhwc_bgr"
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY" if hint == "auto" else hint.upper()}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if precision != "auto":
            config["INFERENCE_PRECISION_HINT"] = precision
        self.compiled = compile_model(model, self.path, device, config)
        # auto: a second compilation with parallel streams for the calls made while others are under way
        # (`submit`); a call made when nothing else runs uses the latency one (`forward`: all threads on it).
        # One request: nothing for the streams to overlap. Not on GPU/NPU: the streams are there so that
        # OpenVINO's CPU threads stop spin-waiting for cores the station's own threads hold.
        self.auto = hint == "auto" and requests != 1 and device == "CPU"
        streams = (compile_model(model, self.path, device, config | {"PERFORMANCE_HINT": "THROUGHPUT"})
                   if self.auto else self.compiled)
        used = self.compiled.get_property("INFERENCE_PRECISION_HINT") if device == "CPU" else device
        # An element Type on recent OpenVINO (str() is "<Type: 'float32'>"): keep its short name, "f32"/"bf16".
        self.precision = used.get_type_name() if hasattr(used, "get_type_name") else str(used)
        self._request = self.compiled.create_infer_request()
        # Requests for `submit`, used in turn by the runtime's infer stage (never more in flight than this).
        if requests == 0:  # OpenVINO's own number for the hint: 1 for latency, one per stream for throughput
            requests = max(1, min(int(streams.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")), 8))
        self.in_flight = requests
        self._async = [streams.create_infer_request() for _ in range(requests)] if requests > 1 else []
        self._started = [False] * len(self._async)
        self._next = 0
        self._submit_lock = threading.Lock()
        self.calls = {"latency": 0, "streams": 0}  # which way the calls went (auto), for the bench and tests

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        # share_inputs: the request reads the pooled input buffer in place (no copy per part); it stays
        # untouched until the synchronous call returns and the runtime releases it after postprocess.
        results = self._request.infer({0: batch}, share_inputs=True)
        # Copy: the request reuses its output memory on the next call, and outputs outlive it in the runtime.
        return [np.array(results[out], copy=True) for out in self.compiled.outputs]

    def submit(self, batch: np.ndarray, queued: bool = False) -> PendingForward:
        """Start the network on `batch` and return at once; `.result()` waits for the outputs. The requests are
        used in turn, so at most `in_flight` calls may be outstanding (the runtime keeps to that).
        With `hint: auto` a call with nothing queued behind it and nothing else running goes the latency way
        (now, all threads on it); the others go to the streams."""
        with self._submit_lock:
            if not self._async or (self.auto and not queued and not self._running()):
                self.calls["latency"] += 1
                return FinishedForward(self.forward(batch))
            self.calls["streams"] += 1
            index = self._next
            self._next = (self._next + 1) % len(self._async)
            request = self._async[index]
            request.wait()  # an earlier call on this request that nobody collected (an abandoned part) ends first
            request.start_async({0: batch}, share_inputs=True)  # `batch` stays referenced by the pending call
            self._started[index] = True
        return _Pending(request, batch, len(self.compiled.outputs))

    def _running(self) -> bool:
        """Whether a call on the streams is still under way (a finished one not yet collected is not)."""
        for started, request in zip(self._started, self._async, strict=True):
            try:
                if started and not request.wait_for(0):
                    return True
            except Exception:  # that call failed, so it is over; its part gets the error from `result()`
                continue
        return False

    def close(self) -> None:
        for request in self._async:
            request.wait()  # never free a request OpenVINO is still writing into
        self._async, self._started = [], []
        self._request = None
        self.compiled = None


class _Pending:
    """A network call running on one of the backend's requests."""

    def __init__(self, request: Any, batch: np.ndarray, outputs: int) -> None:
        self._request, self._batch, self._count = request, batch, outputs

    def result(self) -> list[np.ndarray]:
        self._request.wait()
        # Copy: the request's output memory is reused by its next call.
        outputs = [np.array(self._request.get_output_tensor(i).data, copy=True) for i in range(self._count)]
        self._batch = None
        return outputs


def _fuse_preprocessing(model: Any) -> Any:
    """uint8 NHWC BGR in; f32, RGB, /255, NCHW inside the graph (what `letterbox_into` does in numpy)."""
    from openvino import Layout, Type
    from openvino.preprocess import ColorFormat, PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(Type.u8).set_layout(Layout("NHWC")).set_color_format(ColorFormat.BGR)
    ppp.input().model().set_layout(Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return ppp.build()


def create(options: Options, *, model_path: Path | None = None, **context: Any) -> YoloDetector:
    path = resolve_model(options, model_path, exported_path, "openvino")
    backend = OpenVinoBackend(path, options.threads, options.device, options.precision, options.hint,
                              options.fused_preprocessing, options.requests, options.batch)
    return build_detector(backend, backend.meta, path, options, context, model_path)


# --- plugin hooks (see inspection.adapters.entry_points): `station export-model --format openvino`, `station bench`
DOCS = "docs/models.md"


def export_from_onnx(onnx_path: Path, out: Path, meta: ModelMeta) -> Path:
    """The IR converted from the station's verified ONNX export, metadata in rt_info, weights kept FP32."""
    return convert_onnx(onnx_path, out, meta.to_json(), META_KEY)


def convert_onnx(onnx_path: Path, out: Path, meta_json: str, key: str) -> Path:
    """ONNX → OpenVINO IR at `out` with `meta_json` in rt_info under `key`, weights kept FP32, and without
    the converter's usage telemetry (the YOLO and the anomaly exports both come here)."""
    from inspection.inference.offline import block_vendor_telemetry

    block_vendor_telemetry()  # the converter would post usage telemetry
    ov = _import_ov()
    model = ov.convert_model(str(onnx_path))
    model.set_rt_info(meta_json, [key])
    out.parent.mkdir(parents=True, exist_ok=True)
    # compress_to_fp16 defaults to True: the weights would silently lose precision (and scores their threshold).
    ov.save_model(model, str(out), compress_to_fp16=False)
    return out


def verify_backend(path: Path) -> OpenVinoBackend:
    return OpenVinoBackend(path)
