"""Does INT8 pay here? f32, bf16, ONNX Runtime QDQ INT8 and NNCF INT8 of one YOLO model, in ONE process.

For each input size: the station's FP32 exports (OpenVINO IR and ONNX), ONNX Runtime's static QDQ INT8 (what
`station export-model --format onnx --int8` makes) and NNCF's INT8 IR (what `--format openvino --int8` makes,
plain `nncf.quantize` and with accuracy control), all calibrated on the same recipe images. Each is timed on
the same letterboxed tensors (median wall and CPU ms per image over `--passes` passes of the golden set, after
a warm-up) and scored against true FP32 (OpenVINO f32) on the golden set: detection F1 (labels when the golden
images have YOLO labels, else FP32's detections) and the max class-score deviation. bf16 rows appear only on
CPUs that compute bf16 natively (AMX / AVX512-BF16); elsewhere OpenVINO's default is f32.

    .venv/bin/python bench/bench_int8.py                          # bundled solder model, demo parts, 320
    .venv/bin/python bench/bench_int8.py --imgsz 320 640 --passes 5
    .venv/bin/python bench/bench_int8.py --model M.pt --calibration DIR --golden DIR

docs/benchmarks.md ("INT8: does it pay?") records a run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inspection.demo import DEMO_DIR
from inspection.inference.model import ModelMeta
from inspection.inference.yolo import decode
from training.export import _tensor, _yolo_labels, export_model, f1_score, load_images, quantize_onnx
from training.int8_openvino import Validation, quantize_openvino


def _timed(forward: Callable[[np.ndarray], np.ndarray], tensors: list[np.ndarray],
           passes: int) -> tuple[list[np.ndarray], float, float]:
    """Raw outputs of the first pass, median wall ms and mean CPU ms (whole process) per image."""
    forward(tensors[0])
    raws, walls = [], []
    cpu = time.process_time()
    for i in range(passes):
        for tensor in tensors:
            started = time.perf_counter()
            raw = forward(tensor)
            walls.append((time.perf_counter() - started) * 1000)
            if i == 0:
                raws.append(raw)
    return raws, float(np.median(walls)), (time.process_time() - cpu) * 1000 / (passes * len(tensors))


def _openvino(path: Path, precision: str) -> tuple[Callable[[np.ndarray], np.ndarray], str, Any]:
    from inspection.inference.openvino_runtime import OpenVinoBackend

    backend = OpenVinoBackend(path, precision=precision)
    return (lambda t: backend.forward(t)[0][0]), backend.precision, backend


def _onnxruntime(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], str, Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return (lambda t: session.run(None, {name: t})[0][0]), "ORT", session


def bench(pt: Path, calibration: Path, golden: Path, imgsz: int, passes: int, tolerance: float,
          work: Path) -> list[dict[str, Any]]:
    xml = export_model(pt, "openvino", imgsz=imgsz, out=work / f"m{imgsz}.xml", samples=calibration).path
    onnx = export_model(pt, "onnx", imgsz=imgsz, out=work / f"m{imgsz}.onnx", samples=calibration).path
    from inspection.inference.openvino_runtime import OpenVinoBackend

    meta: ModelMeta = OpenVinoBackend(xml).meta
    calib = load_images(calibration, 16)
    gold = load_images(golden, 10_000)
    tensors = [_tensor(image, meta.imgsz) for _, image in gold]
    inputs = [t for t, _ in tensors]
    nc = len(meta.class_names)

    def dets(raws: list[np.ndarray], indices: list[int] | None = None) -> list[Any]:
        picked = indices if indices is not None else list(range(len(raws)))
        return [decode(raw, nc, tensors[i][1], 0.25, 0.5, 300) for raw, i in zip(raws, picked, strict=True)]

    started = time.perf_counter()
    qdq = quantize_onnx(onnx, work / f"m{imgsz}_qdq.onnx", calib, meta)
    qdq_s = time.perf_counter() - started
    started = time.perf_counter()
    nncf_plain = quantize_openvino(xml, work / f"m{imgsz}_nncf.xml", [_tensor(c[1], meta.imgsz)[0] for c in calib],
                                   meta)
    plain_s = time.perf_counter() - started
    started = time.perf_counter()
    nncf_head = quantize_openvino(xml, work / f"m{imgsz}_nncf_head.xml", [_tensor(c[1], meta.imgsz)[0] for c in calib],
                                  meta, whole_head=True)
    head_s = time.perf_counter() - started

    cases: list[tuple[str, Callable[[], tuple[Callable[[np.ndarray], np.ndarray], str, Any]], float | None]] = [
        ("FP32 IR, OpenVINO f32", lambda: _openvino(xml, "f32"), None),
        ("FP32 IR, OpenVINO bf16", lambda: _openvino(xml, "bf16"), None),
        ("FP32 IR, OpenVINO default", lambda: _openvino(xml, "auto"), None),
        ("ORT QDQ INT8, run by OpenVINO", lambda: _openvino(qdq, "auto"), qdq_s),
        ("ORT QDQ INT8, run by ONNX Runtime", lambda: _onnxruntime(qdq), qdq_s),
        ("NNCF INT8 (nncf.quantize)", lambda: _openvino(nncf_plain, "auto"), plain_s),
        ("NNCF INT8, whole head float", lambda: _openvino(nncf_head, "auto"), head_s),
    ]
    rows: list[dict[str, Any]] = []
    reference: list[np.ndarray] = []
    truth: list[np.ndarray] = []

    def run(name: str, make: Callable[[], tuple[Callable[[np.ndarray], np.ndarray], str, Any]],
            seconds: float | None) -> None:
        nonlocal reference, truth
        forward, precision, handle = make()
        if "bf16" in name and precision != "bf16":
            print(f"  {name}: skipped, this CPU computes {precision} (no native bf16)", flush=True)
            return
        raws, wall, cpu = _timed(forward, inputs, passes)
        del handle
        if not reference:  # the first case is true FP32: the reference for deviations and, unlabelled, for F1
            reference = raws
            labels = [_yolo_labels(path, image.shape[1], image.shape[0]) for path, image in gold]
            truth = ([label for label in labels if label is not None] if all(x is not None for x in labels) else
                     [np.column_stack([d.classes, d.boxes]) if len(d) else np.zeros((0, 5)) for d in dets(raws)])
        dev = max(float(np.abs(a[4:4 + nc] - b[4:4 + nc]).max()) for a, b in zip(reference, raws, strict=True))
        row = {"imgsz": imgsz, "case": name, "precision": precision, "ms": wall, "cpu_ms": cpu,
               "f1": f1_score(dets(raws), truth), "score_dev": dev, "quantize_s": seconds}
        rows.append(row)
        print(f"  {name:<36} {precision:>5}  {wall:7.2f} ms  cpu {cpu:7.2f} ms  F1 {row['f1']:.4f}  "
              f"max score dev {dev:.4f}" + (f"  (quantized in {seconds:.0f} s)" if seconds else ""), flush=True)

    for name, make, seconds in cases:
        run(name, make, seconds)

    def score(raws: list[np.ndarray], indices: list[int]) -> float:
        return f1_score(dets(raws, indices), [truth[i] for i in indices])

    started = time.perf_counter()
    controlled = quantize_openvino(xml, work / f"m{imgsz}_nncf_ac.xml", [_tensor(c[1], meta.imgsz)[0] for c in calib],
                                   meta, Validation(tuple(inputs), score, tolerance))
    run(f"NNCF INT8, accuracy control ({tolerance})", lambda: _openvino(controlled, "auto"),
        time.perf_counter() - started)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEMO_DIR / "models" / "solder_yolov8n.pt")
    parser.add_argument("--calibration", type=Path, default=DEMO_DIR / "parts" / "solder")
    parser.add_argument("--golden", type=Path, help="golden set (default: the calibration images)")
    parser.add_argument("--imgsz", type=int, nargs="+", default=[320])
    parser.add_argument("--passes", type=int, default=3, help="timed passes over the golden set per case")
    parser.add_argument("--tolerance", type=float, default=0.02, help="max F1 drop for accuracy control")
    args = parser.parse_args()
    import openvino

    print(f"OpenVINO {openvino.__version__}, CPU {openvino.Core().get_property('CPU', 'FULL_DEVICE_NAME')}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        for size in args.imgsz:
            print(f"\n=== {args.model.name} at {size} ===", flush=True)
            bench(args.model, args.calibration, args.golden or args.calibration, size, args.passes,
                  args.tolerance, Path(tmp))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
