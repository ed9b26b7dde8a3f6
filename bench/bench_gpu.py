"""GPU station bench: TensorRT FP16 and CUDA torch, same run, same images (run by bench/gpu.sh).

Rows, as in `station bench`:
- (a) ultralytics `predict` on the .pt with CUDA torch (device 0);
- (b) TensorRT FP16 raw forward (the station's `TensorRtBackend` on a ready tensor);
- (c) the full station with `detector.kind: tensorrt` (FP16 engine) and (c-torch) with `kind: ultralytics` on CUDA;
- (d) the peer: ultralytics' own `export(format="engine", half=True)` in a plain predict loop.
Ends with `pipeline/peer` and `pipeline/raw` for the TensorRT pipeline (goal: ≥ 500 fps at 640 for
yolov8n-seg, pipeline/raw ≥ 0.9).

The FP16 engine is built here from `station export-model`'s ONNX (TensorRT engines are tied to the GPU and
TensorRT version that built them), with the model's metadata in `<engine>.json` beside it.

Run: `python bench/bench_gpu.py [--model M.pt] [--images DIR] [--imgsz 640] [--frames 300]`
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from inspection.inference.offline import ensure_offline


def build_fp16_engine(onnx_path: Path, engine_path: Path) -> Path:
    import onnx
    import tensorrt as trt

    from inspection.inference.model import META_KEY

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        raise RuntimeError("; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path}")
    engine_path.write_bytes(bytes(serialized))
    meta = next(p.value for p in onnx.load(str(onnx_path)).metadata_props if p.key == META_KEY)
    engine_path.with_suffix(".json").write_text(meta, encoding="utf-8")
    return engine_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--images", type=Path)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    ensure_offline()
    import torch
    from ultralytics import YOLO

    from inspection.inference.tensorrt_runtime import TensorRtBackend
    from training.bench import _image_files, _station_run, _timed_loop, default_inputs
    from training.export import export_model

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to torch: run this on a GPU machine")
    work = Path(tempfile.mkdtemp(prefix="station-gpu-bench-"))
    try:
        model, images = default_inputs(work)
        model, images = args.model or model, args.images or images
        files, size, n = _image_files(images), args.imgsz, args.frames
        print(f"GPU {torch.cuda.get_device_name(0)}, torch {torch.__version__}, model {model.name}, imgsz {size}")
        onnx_path = export_model(model, "onnx", imgsz=size, out=work / "model.onnx", samples=images, max_images=4).path
        engine = build_fp16_engine(onnx_path, work / "model.engine")

        yolo = YOLO(str(model))
        for _ in range(5):
            yolo.predict(str(files[0]), imgsz=size, device=0, verbose=False, save=False)
        naive = _timed_loop("(a) ultralytics predict, CUDA torch", n, lambda i: yolo.predict(
            str(files[i % len(files)]), imgsz=size, device=0, verbose=False, save=False))

        backend = TensorRtBackend(engine)
        import numpy as np

        tensor = np.zeros((1, 3, size, size), np.float32)
        for _ in range(20):
            backend.forward(tensor)
        raw = _timed_loop("(b) TensorRT FP16 raw forward", n, lambda i: backend.forward(tensor))

        store = {"keep_images": "failures"}
        pipeline, _, stages = _station_run(work, model, engine, images, "tensorrt", {}, n, None, store)
        pipeline.name = "(c) station, TensorRT FP16"
        torch_run, _, _ = _station_run(work, model, model, images, "ultralytics", {}, n, None, store)
        torch_run.name = "(c) station, CUDA torch (.pt)"

        copy = work / "peer" / model.name
        copy.parent.mkdir()
        shutil.copy2(model, copy)
        peer_engine = YOLO(str(copy)).export(format="engine", half=True, imgsz=size, device=0, verbose=False)
        peer = YOLO(str(peer_engine), task=str(yolo.task))
        for _ in range(5):
            peer.predict(str(files[0]), imgsz=size, device=0, verbose=False, save=False)
        peer_row = _timed_loop("(d) ultralytics engine export (FP16)", n, lambda i: peer.predict(
            str(files[i % len(files)]), imgsz=size, device=0, verbose=False, save=False))

        for row in (naive, raw, pipeline, torch_run, peer_row):
            print(row.line())
        print("(c) stages p50/p99 ms: " + ", ".join(f"{k} {v['p50']:.1f}/{v['p99']:.1f}" for k, v in stages.items()))
        print(f"pipeline/naive = {pipeline.fps / naive.fps:.2f}")
        print(f"pipeline/peer = {pipeline.fps / peer_row.fps:.2f}")
        print(f"pipeline/raw = {pipeline.fps / raw.fps:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
