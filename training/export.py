"""`station export-model --model M.pt --format onnx|openvino`: convert, embed metadata, verify, optionally INT8.

1. Export: ultralytics writes the ONNX graph (offline, no simplifier download); the station adds its
   own metadata (classes, input size, task, source model id, precision) inside the file — ONNX
   `metadata_props`, OpenVINO `rt_info` (the IR is converted from that ONNX, weights kept FP32).
2. Verify: the original PyTorch model and the exported one run on the *same* letterboxed tensors of
   sample images; the report gives the max box deviation (px, on anchors either model scores above
   the floor) and the max class-score deviation, plus detections per image after NMS.
3. INT8 (optional), calibrated on the recipe's own images: for OpenVINO an NNCF-quantized IR
   (`training.int8_openvino`: the head's post-processing kept float as ultralytics does, accuracy control
   on the golden set); for ONNX ONNX Runtime static post-training quantization (QDQ, per-channel weights,
   the head kept FP32). It is kept only when its F1 on the golden set stays within `tolerance` of the FP32
   model's F1 (against YOLO labels when the golden set has them, else against the FP32 model's
   detections); both F1s are reported either way, with both models' forward time on this machine — INT8
   that passes the gate but is not faster here (bf16 on AMX CPUs) gets a note saying so.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspection.domain.images import IMAGE_SUFFIXES, image_files
from inspection.domain.matching import f1, greedy_match
from inspection.errors import DataError, ModelError
from inspection.inference import model_id_for
from inspection.inference.model import META_KEY, ModelMeta
from inspection.inference.yolo import Letterbox, RawDetections, decode, letterbox_into
from training.progress import bar

__all__ = ["ExportReport", "export_model", "f1_score", "formats", "load_images", "verify"]

log = logging.getLogger(__name__)


def formats() -> tuple[str, ...]:
    """Export targets: every installed detector kind with an `export_from_onnx` hook (plugins included)."""
    from inspection.adapters.entry_points import kinds_with_hook

    return kinds_with_hook("detector", "export_from_onnx")


@dataclass
class ExportReport:
    path: Path
    format: str
    meta: ModelMeta
    images: int = 0
    max_box_dev_px: float = 0.0
    max_score_dev: float = 0.0
    detections_original: int = 0
    detections_exported: int = 0
    seconds: float = 0.0
    int8_path: Path | None = None
    int8_accepted: bool | None = None
    f1_fp32: float | None = None
    f1_int8: float | None = None
    f1_reference: str = ""
    int8_max_score_dev: float | None = None
    int8_method: str = ""
    fp32_precision: str = ""  # what the FP32 model computed in on this machine (bf16 on AMX CPUs)
    fp32_ms: float | None = None  # median forward ms/image on the golden set, this machine
    int8_ms: float | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"exported {self.format}: {self.path}  (classes {len(self.meta.class_names)}, imgsz "
            f"{list(self.meta.imgsz)}, task {self.meta.task}, {self.seconds:.1f} s)",
            f"verified on {self.images} image(s) against the original: max box deviation {self.max_box_dev_px:.4f} px, "
            f"max score deviation {self.max_score_dev:.5f}; detections {self.detections_original} (original) vs "
            f"{self.detections_exported} (exported)",
        ]
        if self.int8_accepted is not None:
            verdict = "ACCEPTED" if self.int8_accepted else "REJECTED (kept FP32 only)"
            out.append(f"INT8 {verdict}: F1 vs {self.f1_reference}: FP32 {self.f1_fp32:.4f}, INT8 {self.f1_int8:.4f}; "
                       f"max score deviation vs FP32 {self.int8_max_score_dev:.4f}; {self.int8_method}"
                       + (f"; {self.int8_path}" if self.int8_accepted else ""))
            out.append(f"forward pass on this machine: FP32 ({self.fp32_precision}) {self.fp32_ms:.1f} ms/image, "
                       f"INT8 {self.int8_ms:.1f} ms/image (median over the golden set)")
        return out + self.notes


# --- images ------------------------------------------------------------------------------------------

def load_images(folder: Path | None, limit: int) -> list[tuple[Path | None, np.ndarray]]:
    """Up to `limit` images (sorted, evenly spread) from a folder; raises DataError when there are none."""
    import cv2

    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of images")
    files = image_files(folder, recursive=True)
    if not files:
        raise DataError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    picks = [files[int(i)] for i in np.linspace(0, len(files) - 1, min(limit, len(files)))]
    images = []
    for path in dict.fromkeys(picks):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"{path}: cannot decode this image; remove it from the folder")
        images.append((path, image))
    return images


def _synthetic_images(imgsz: int, count: int = 4) -> list[tuple[Path | None, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(None, rng.integers(0, 255, (imgsz, int(imgsz * 1.25), 3), dtype=np.uint8)) for _ in range(count)]


def _tensor(image: np.ndarray, imgsz: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    buffer = np.empty((3, *imgsz), np.float32)
    box = letterbox_into(image, buffer)
    return buffer[None], box


# --- export ------------------------------------------------------------------------------------------

def _load(pt: Path) -> Any:
    from inspection.inference.torch_runtime import load_yolo

    model = load_yolo(pt)
    if model.task not in ("detect", "segment"):
        raise ModelError(f"{pt}: a {model.task!r} model; only detect and segment models can be exported")
    return model


def _trained_imgsz(model: Any) -> int:
    from inspection.inference.torch_runtime import _trained_imgsz

    return _trained_imgsz(model) or 640


def _export_onnx(model: Any, pt: Path, imgsz: int, out: Path, meta: ModelMeta, dynamic: bool = False) -> Path:
    import onnx

    with tempfile.TemporaryDirectory(prefix="station-export-") as tmp:
        copy = Path(tmp) / pt.name
        shutil.copy2(pt, copy)
        from ultralytics import YOLO

        exported = Path(YOLO(str(copy)).export(format="onnx", imgsz=imgsz, simplify=False, dynamic=dynamic,
                                               half=False, int8=False, nms=False, verbose=False))
        graph = onnx.load(str(exported))
    _set_meta(graph, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(graph, str(out))
    return out


def _set_meta(graph: Any, meta: ModelMeta) -> None:
    for prop in list(graph.metadata_props):
        if prop.key == META_KEY:
            graph.metadata_props.remove(prop)
    entry = graph.metadata_props.add()
    entry.key, entry.value = META_KEY, meta.to_json()


def _hook(fmt: str, name: str) -> Any:
    from inspection.adapters.entry_points import find_hook

    hook = find_hook("detector", fmt, name)
    if hook is None:
        raise ModelError(f"export format {fmt!r}: its detector adapter has no {name} hook; "
                         f"formats: {', '.join(formats())}")
    return hook


def _backend(path: Path, fmt: str) -> Any:
    return _hook(fmt, "verify_backend")(path)


def default_out(pt: Path, fmt: str, int8: bool = False) -> Path:
    suffix = _hook(fmt, "exported_path")(pt).suffix
    return pt.with_name(pt.stem + ("_int8" if int8 else "") + suffix)


def export_model(pt: Path, fmt: str, *, imgsz: int | None = None, out: Path | None = None,
                 samples: Path | None = None, int8: bool = False, calibration: Path | None = None,
                 golden: Path | None = None, tolerance: float = 0.02, conf: float = 0.25,
                 max_images: int = 16, dynamic: bool = False, accuracy_control: bool = True) -> ExportReport:
    """Export `pt` to `fmt`, verify it, and (with `int8`) quantize and gate it on the golden set.

    `dynamic` exports a variable batch (the runtime then batches frames of several cameras / tiles into
    one call); the input size stays fixed at `imgsz`, which the metadata records."""
    if fmt not in formats():
        raise ModelError(f"export format {fmt!r}: expected one of {', '.join(formats())}")
    if int8 and calibration is None:
        raise DataError("--int8 needs --calibration DIR: images of the recipe's own parts to calibrate on")
    started = time.perf_counter()
    pt = Path(pt)
    model = _load(pt)
    size = imgsz or _trained_imgsz(model)
    names = model.names
    meta = ModelMeta(tuple(str(names[i]) for i in sorted(names)), (size, size), str(model.task),
                     source_model_id=model_id_for(pt))
    out = Path(out) if out is not None else default_out(pt, fmt)
    images = load_images(samples or calibration, max_images) or _synthetic_images(size)  # bad images: fail first
    if int8:
        assert calibration is not None
        load_images(golden or calibration, 10_000)
    steps = 2 + (fmt != "onnx") + int8  # export, convert, verify, INT8: one bar step each
    with tempfile.TemporaryDirectory(prefix="station-export-") as tmp, bar(f"export {fmt}", steps) as advance:
        # An ONNX export is verified where it was made and only then put in place: a failed re-export must
        # not replace a good file that a station may be running.
        onnx_path = Path(tmp) / (out.name if fmt == "onnx" else f"{pt.stem}.onnx")
        _export_onnx(model, pt, size, onnx_path, meta, dynamic)
        advance(1)
        if fmt != "onnx":  # every other format is converted from the station's ONNX export
            _hook(fmt, "export_from_onnx")(onnx_path, out, meta)
            advance(1)
        report = ExportReport(out, fmt, meta)
        verify(model, _backend(onnx_path if fmt == "onnx" else out, fmt), meta, images, report, conf)
        if fmt == "onnx":
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(onnx_path, out)
        advance(1)
        if int8:
            assert calibration is not None
            _int8(onnx_path, fmt, out, meta, calibration, golden or calibration, tolerance, conf, report,
                  max_images, accuracy_control)
            advance(1)
    report.seconds = time.perf_counter() - started
    return report


# --- verification --------------------------------------------------------------------------------

def _torch_outputs(model: Any, tensor: np.ndarray) -> list[np.ndarray]:
    import torch

    net = model.model.eval()
    with torch.inference_mode():
        out = net(torch.from_numpy(tensor))
    first = out[0] if isinstance(out, list | tuple) else out
    if isinstance(first, list | tuple):  # segment: (predictions, prototypes)
        return [first[0].numpy(), first[1].numpy()]
    return [first.numpy()]


def verify(model: Any, backend: Any, meta: ModelMeta, images: list[tuple[Path | None, np.ndarray]],
           report: ExportReport, conf: float) -> None:
    """Same tensors through both models: max box (px) and score deviation, detection counts."""
    nc = len(meta.class_names)
    try:
        for _, image in images:
            tensor, box = _tensor(image, meta.imgsz)
            ref = _torch_outputs(model, tensor)[0][0]
            got = backend.forward(tensor)[0][0]
            if got.shape != ref.shape:
                raise ModelError(f"{report.path}: output shape {got.shape} differs from the original's {ref.shape}")
            report.max_score_dev = max(report.max_score_dev, float(np.abs(got[4:4 + nc] - ref[4:4 + nc]).max()))
            scored = np.maximum(ref[4:4 + nc].max(0), got[4:4 + nc].max(0)) > conf
            if scored.any():
                box_dev = float(np.abs(got[:4, scored] - ref[:4, scored]).max())
                report.max_box_dev_px = max(report.max_box_dev_px, box_dev)
            report.detections_original += len(decode(ref, nc, box, conf, 0.5, 300))
            report.detections_exported += len(decode(got, nc, box, conf, 0.5, 300))
            report.images += 1
    finally:
        backend.close()


# --- INT8 ----------------------------------------------------------------------------------------------

def quantize_onnx(fp32: Path, out: Path, images: list[tuple[Path | None, np.ndarray]], meta: ModelMeta) -> Path:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    graph = onnx.load(str(fp32))
    # Quantize the convolutions of backbone and neck (where the time goes) and keep the detection head in
    # FP32: its box/DFL decoding is arithmetic on pixel coordinates and its class logits are what the recipe
    # thresholds. On the demo solder model this cuts the max score deviation from 0.32 to 0.04.
    head = _head_nodes(graph)

    class Calibration(CalibrationDataReader):  # letterboxed recipe images, one pass (MinMax)
        def __init__(self) -> None:
            name = graph.graph.input[0].name
            self._items: Iterator[dict[str, np.ndarray]] = iter(
                [{name: _tensor(image, meta.imgsz)[0]} for _, image in images])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._items, None)

    reader = Calibration()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a warning per un-folded bias to the root logger
    try:
        quantize_static(str(fp32), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv"], nodes_to_exclude=head)
    finally:
        root.setLevel(level)
    int8_meta = ModelMeta(meta.class_names, meta.imgsz, meta.task, meta.source_model_id, "int8", meta.stride)
    graph = onnx.load(str(out))
    _set_meta(graph, int8_meta)
    onnx.save(graph, str(out))
    return out


def _head_nodes(graph: Any) -> list[str]:
    """Names of the nodes of the last `/model.N/` module (the YOLO head) in an ultralytics ONNX export."""
    indices = []
    for node in graph.graph.node:
        parts = node.name.split("/")
        if len(parts) > 2 and parts[1].startswith("model.") and parts[1][6:].isdigit():
            indices.append(int(parts[1][6:]))
    if not indices:
        return [n.name for n in graph.graph.node if "dfl" in n.name.lower()]
    prefix = f"/model.{max(indices)}/"
    return [n.name for n in graph.graph.node if n.name.startswith(prefix)]


def _yolo_labels(image_path: Path | None, width: int, height: int) -> np.ndarray | None:
    """YOLO txt labels (class cx cy w h, normalised) beside the image or in ../labels/; None when absent."""
    if image_path is None:
        return None
    candidates_ = [image_path.with_suffix(".txt"),
                   image_path.parent.parent / "labels" / (image_path.stem + ".txt")]
    for label in candidates_:
        if label.is_file():
            rows = np.loadtxt(label, ndmin=2) if label.stat().st_size else np.zeros((0, 5))
            rows = rows[:, :5]
            cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
            return np.column_stack([rows[:, 0], cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return None


def f1_score(found: list[RawDetections], truth: list[np.ndarray], iou: float = 0.5) -> float:
    """Detection F1 at IoU ≥ `iou`, same class, greedy by score. 1.0 when both are empty."""
    tp = fp = fn = 0
    for dets, gt in zip(found, truth, strict=True):
        gt = np.asarray(gt, np.float64).reshape(-1, 5)
        matched = greedy_match(dets.boxes, dets.scores, dets.classes, gt[:, 1:5], gt[:, 0].astype(np.int64), iou)
        hits = int((matched >= 0).sum())
        tp, fp, fn = tp + hits, fp + len(matched) - hits, fn + len(gt) - hits
    return f1(tp, fp, fn)


def _predict(backend: Any, images: list[tuple[Path | None, np.ndarray]], meta: ModelMeta,
             conf: float) -> tuple[list[RawDetections], list[np.ndarray], float]:
    """Detections and raw outputs per image, and the median forward time (ms) after one warm-up call."""
    dets, raws, times = [], [], []
    tensors = [_tensor(image, meta.imgsz) for _, image in images]
    backend.forward(tensors[0][0])
    for tensor, box in tensors:
        started = time.perf_counter()
        raw = backend.forward(tensor)[0][0]
        times.append((time.perf_counter() - started) * 1000)
        raws.append(raw)
        dets.append(decode(raw, len(meta.class_names), box, conf, 0.5, 300))
    return dets, raws, float(np.median(times))


def _int8(onnx_fp32: Path, fmt: str, out: Path, meta: ModelMeta, calibration: Path, golden: Path,
          tolerance: float, conf: float, report: ExportReport, max_images: int, accuracy_control: bool) -> None:
    calib = load_images(calibration, max_images)
    gold = load_images(golden, 10_000)
    fp32_backend = _backend(out, fmt)
    try:
        fp32_dets, fp32_raw, fp32_ms = _predict(fp32_backend, gold, meta, conf)
        report.fp32_precision = str(getattr(fp32_backend, "precision", "f32"))
    finally:
        fp32_backend.close()
    labels = [_yolo_labels(path, image.shape[1], image.shape[0]) for path, image in gold]
    if all(label is not None for label in labels):
        truth, report.f1_reference = [label for label in labels if label is not None], f"labels of {len(gold)} images"
    else:
        truth = [np.column_stack([d.classes, d.boxes]) if len(d) else np.zeros((0, 5)) for d in fp32_dets]
        report.f1_reference = f"FP32 detections on {len(gold)} unlabelled images"
    int8_path = _quantize(onnx_fp32, fmt, out, meta, calib, gold, truth, tolerance if accuracy_control else None,
                          conf, report)
    int8_backend = _backend(int8_path, fmt)
    try:
        int8_dets, int8_raw, int8_ms = _predict(int8_backend, gold, meta, conf)
    finally:
        int8_backend.close()
    report.f1_fp32, report.f1_int8 = f1_score(fp32_dets, truth), f1_score(int8_dets, truth)
    report.fp32_ms, report.int8_ms = fp32_ms, int8_ms
    nc = len(meta.class_names)
    report.int8_max_score_dev = max(float(np.abs(a[4:4 + nc] - b[4:4 + nc]).max()) for a, b in zip(
        fp32_raw, int8_raw, strict=True))
    report.int8_accepted = report.f1_fp32 - report.f1_int8 <= tolerance
    if report.int8_accepted:
        report.int8_path = int8_path
        if int8_ms >= fp32_ms:  # it passes the gate but does not pay on this CPU (e.g. bf16 on AMX)
            report.notes.append(f"INT8 is not faster than {report.fp32_precision} on this CPU ({int8_ms:.1f} vs "
                                f"{fp32_ms:.1f} ms/image): keep the FP32 export on PCs like this one")
    else:
        report.notes.append(f"INT8 F1 dropped by {report.f1_fp32 - report.f1_int8:.4f} > tolerance {tolerance}; "
                            f"the INT8 file was removed: use the FP32 export, or calibrate on more/other images")
        for path in (int8_path, int8_path.with_suffix(".bin")):
            path.unlink(missing_ok=True)


def _quantize(onnx_fp32: Path, fmt: str, out: Path, meta: ModelMeta, calib: list[tuple[Path | None, np.ndarray]],
              gold: list[tuple[Path | None, np.ndarray]], truth: list[np.ndarray], tolerance: float | None, conf: float,
              report: ExportReport) -> Path:
    """The INT8 file: NNCF for OpenVINO (accuracy-aware on the golden set unless `tolerance` is None), else
    ONNX Runtime's QDQ ONNX."""
    if fmt == "openvino":
        from training.int8_openvino import Validation, quantize_openvino

        boxes = [_tensor(image, meta.imgsz) for _, image in gold]
        nc = len(meta.class_names)

        def score(raws: list[np.ndarray], indices: list[int]) -> float:
            return f1_score([decode(raw, nc, boxes[i][1], conf, 0.5, 300) for raw, i in zip(raws, indices,
                                                                                           strict=True)],
                            [truth[i] for i in indices])

        validation = None if tolerance is None else Validation(tuple(t for t, _ in boxes), score, tolerance)
        report.int8_method = (f"NNCF, accuracy control on {len(gold)} golden images" if validation is not None
                              else "NNCF, no accuracy control")
        return quantize_openvino(out, default_out(out, "openvino", int8=True),
                                 [_tensor(image, meta.imgsz)[0] for _, image in calib], meta, validation)
    # ONNX: the QDQ ONNX, which ONNX Runtime (and OpenVINO, reading the .onnx) runs in INT8.
    report.int8_method = "ONNX Runtime static QDQ"
    return quantize_onnx(onnx_fp32, default_out(out, "onnx", int8=True), calib, meta)
