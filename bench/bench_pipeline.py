"""Pipeline throughput matrix: yolov8n-size detect and seg models at 320 and 640, FP32 and INT8.

For each case, in ONE process on the same images and model: (a) ultralytics `model.predict` loop,
(b) the backend's raw forward pass in a tight loop, (c) the full station (replay → concurrent runtime
→ verdict → SQLite), (c') the station at sporadic triggers. Prints the ratios c/a and c/b and the
latencies; docs/benchmarks.md ("Pipeline throughput") records a run.

    .venv/bin/python bench/bench_pipeline.py                 # the matrix on the bundled demo parts
    .venv/bin/python bench/bench_pipeline.py --quick         # detect 320 only
    .venv/bin/python bench/bench_pipeline.py --model M.pt --images DIR

Untrained yolov8n(-seg) models stand in where no trained model is given (same architecture, same
cost per frame; their heads report nothing, like a trained model on good parts).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from inspection.demo import DEMO_DIR
from training.bench import run_bench
from training.testing import untrained_yolo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="one .pt model instead of the untrained matrix")
    parser.add_argument("--images", type=Path, default=DEMO_DIR / "parts" / "solder")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--sporadic", type=int, default=15)
    parser.add_argument("--backend", choices=["openvino", "onnx"], default="openvino")
    parser.add_argument("--quick", action="store_true", help="detect at 320 only")
    parser.add_argument("--no-int8", action="store_true", help="skip the INT8 rows")
    parser.add_argument("--precision", choices=["auto", "f32", "bf16"], default="auto",
                        help="OpenVINO precision of the non-INT8 rows (auto = bf16 on AMX CPUs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        tasks = ["detect"] if args.quick else ["detect", "segment"]
        sizes = [320] if args.quick else [320, 640]
        rows = []
        for task in tasks:
            model = args.model or untrained_yolo(Path(tmp) / f"yolov8n-{task}.pt", task=task, active=False)
            for size in sizes:
                for int8 in (False,) if args.no_int8 else (False, True):
                    print(f"\n=== {model.name} {task} imgsz {size} {'INT8' if int8 else 'FP32'} ===", flush=True)
                    result = run_bench(model, args.images, size, args.backend, args.frames, args.sporadic,
                                       args.precision, int8=int8)
                    print("\n".join(result.lines()), flush=True)
                    rows.append((task, size, result))
            if args.model:
                break
        print("\n| model | imgsz | backend | (a) fps | (b) fps | (c) fps | c/a | c/b | (a) p50/p99 ms | "
              "(b) p50/p99 ms | (c') p50/p99 ms |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for task, size, r in rows:
            s = r.sporadic
            print(f"| {task} | {size} | {r.backend} | {r.naive.fps:.1f} | {r.raw.fps:.1f} | {r.pipeline.fps:.1f} | "
                  f"{r.pipeline_over_naive:.2f} | {r.pipeline_over_raw:.2f} | "
                  f"{r.naive.p(50):.0f}/{r.naive.p(99):.0f} | "
                  f"{r.raw.p(50):.1f}/{r.raw.p(99):.1f} | "
                  + (f"{s.p(50):.1f}/{s.p(99):.1f} |" if s else "– |"))


if __name__ == "__main__":
    main()
