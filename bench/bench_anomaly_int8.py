"""Benchmark: anomaly model OpenVINO float32 vs NNCF INT8, accuracy and per-image time in ONE process.

    .venv/bin/python bench/bench_anomaly_int8.py [--set paint|shipped|deeppcb] [--rounds 5]

- paint: the `training.anomaly_bench` paint sets (fit on 120 good panels of seed 777 with the shipped paint
  settings at the default 2 % coreset; test 40 good + 40 defective panels of seed 4242, with defect masks);
- shipped: the bundled `inspection/demo/models/paint_anomaly.npz` (5 % coreset, bank 4915) on the same
  test panels;
- deeppcb: DeepPCB templates (good) vs their defective boards, as bench/bench_anomaly.py splits them
  (there is no good-only NEU-DET set: every NEU-DET image has a defect), imgsz 256, default settings
  (`--imgsz 512 --layers 2`: the fine setting DeepPCB needs, docs/benchmarks.md).

INT8 variants (calibrated on the fit images): `int8` = feature extractor quantized, search/map float;
`int8+search` = the bank's distance MatMul quantized too. Times: `features` is the same IR cut after
the feature extractor, so search + map ≈ full − features. Per image, single-image passes, 1 thread,
interleaved rounds; wall = median of rounds of perf_counter, CPU = median of rounds of process_time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from inspection.anomaly.model import preprocess  # noqa: E402
from inspection.anomaly.runtime import AnomalyRuntime  # noqa: E402
from training.anomaly import FitConfig, auroc, fit_anomaly, pixel_auroc  # noqa: E402
from training.anomaly_bench import _PAINT, paint_sets  # noqa: E402
from training.anomaly_export import export_anomaly  # noqa: E402
from training.anomaly_int8 import quantize_anomaly  # noqa: E402


def features_only(xml: Path, threads: int = 1) -> object:
    """The IR cut after the feature extractor (the last `/features/` op), compiled like the runtime does."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    last = [op for op in model.get_ordered_ops() if op.get_friendly_name().startswith("/features/")
            and op.get_type_name() not in ("Constant", "FakeQuantize")][-1]
    cut = ov.Model([last.output(0)], model.get_parameters(), "features")
    return ov.Core().compile_model(cut, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads})


def timings(runners: dict[str, object], tensors: list[np.ndarray], rounds: int) -> dict[str, tuple[float, float]]:
    for run in runners.values():
        for t in tensors[:3]:
            run(t)  # type: ignore[operator]
    wall: dict[str, list[float]] = {k: [] for k in runners}
    cpu: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            w0, c0 = time.perf_counter(), time.process_time()
            for t in tensors:
                run(t)  # type: ignore[operator]
            wall[name].append((time.perf_counter() - w0) * 1e3 / len(tensors))
            cpu[name].append((time.process_time() - c0) * 1e3 / len(tensors))
    return {k: (float(np.median(wall[k])), float(np.median(cpu[k]))) for k in runners}


def bench(label: str, npz: Path, calib: list[np.ndarray], good: list[np.ndarray], bad: list[np.ndarray],
          masks: list[np.ndarray] | None, rounds: int, work: Path) -> None:
    t0 = time.perf_counter()
    xml = export_anomaly(npz, "openvino", work / f"{npz.stem}.xml")
    meta = AnomalyRuntime(xml).meta
    q_s = {}
    paths = {"f32": xml}
    for name, search in (("int8", False), ("int8+search", True)):
        q0 = time.perf_counter()
        paths[name] = quantize_anomaly(xml, work / f"{npz.stem}_{name.replace('+', '_')}.xml", calib, meta, search)
        q_s[name] = time.perf_counter() - q0
    print(f"\n### {label} (bank {meta_bank(npz)}, calib {len(calib)}, {len(good)} good / {len(bad)} bad, "
          f"export+quantize {time.perf_counter() - t0:.0f} s)", flush=True)
    runtimes = {k: AnomalyRuntime(p, threads=1) for k, p in paths.items()}
    t = meta.threshold
    results = {}
    for k, rt in runtimes.items():
        gm, gs = rt.score_images(good, batch_size=1)
        bm, bs = rt.score_images(bad, batch_size=1)
        pix = float("nan")
        if masks is not None:
            pix = pixel_auroc(list(gm) + list(bm), [np.zeros(g.shape[:2], np.uint8) for g in good] + masks)
        results[k] = (auroc(gs, bs), pix, float((bs < t).mean()), float((gs >= t).mean()), np.concatenate([gs, bs]))
    tensors = [preprocess(image, meta) for image in good[:10]]
    runners = {k: rt.run for k, rt in runtimes.items()}
    runners.update({f"{k} features": features_only(p) for k, p in paths.items() if k != "int8+search"})
    times = timings(runners, tensors, rounds)
    ref = results["f32"][4]
    print("| model | image AUROC | pixel AUROC | escape | false reject | max score dev | wall ms | CPU ms | "
          "features CPU ms | search+map CPU ms | quantize s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for k in paths:
        a, pix, esc, fr, scores = results[k]
        wall, cpu = times[k]
        feat = times.get(f"{k} features", (float("nan"), float("nan")))[1]
        dev = float(np.max(np.abs(scores - ref) / np.abs(ref)))
        print(f"| {k} | {a:.4f} | {pix:.4f} | {esc:.1%} | {fr:.1%} | {dev:.2%} | {wall:.1f} | {cpu:.1f} | "
              f"{feat:.1f} | {cpu - feat:.1f} | {q_s.get(k, 0):.0f} |", flush=True)
    print("features-only wall ms: " + ", ".join(f"{k} {v[0]:.1f}" for k, v in times.items() if "features" in k))


def meta_bank(npz: Path) -> int:
    from inspection.anomaly.model import load_npz_model

    return int(load_npz_model(npz).memory_bank.shape[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["paint", "shipped", "deeppcb"], action="append")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calib", type=int, default=64, help="calibration images (evenly spread over the fit set)")
    parser.add_argument("--fit", type=int, default=60, help="DeepPCB templates to fit on")
    parser.add_argument("--eval", type=int, default=40, help="DeepPCB template/board pairs to test on")
    parser.add_argument("--imgsz", type=int, default=256, help="DeepPCB input size")
    parser.add_argument("--layers", default="4,10", help="DeepPCB feature blocks (2 = the fine setting)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("NNCF_CI", "1")
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for which in args.set or ["paint", "shipped", "deeppcb"]:
            if which in ("paint", "shipped"):
                fit, good, bad, masks = paint_sets()
                calib = [fit[i] for i in np.linspace(0, len(fit) - 1, min(args.calib, len(fit))).astype(int)]
                if which == "paint":
                    npz = fit_anomaly(fit, _PAINT).model.save(work / "paint_default.npz")
                    label = "paint panels, default 2 % coreset, fitted here"
                else:
                    npz = ROOT / "inspection" / "demo" / "models" / "paint_anomaly.npz"
                    label = "paint panels, shipped paint_anomaly.npz"
                bench(label, npz, calib, good, bad, masks, args.rounds, work)
            else:
                from bench_anomaly import deeppcb

                fit, good, bad = deeppcb(args.fit, args.eval, 0)
                layers = tuple(int(b) for b in args.layers.split(","))
                npz = fit_anomaly(fit, FitConfig(imgsz=args.imgsz, layers=layers)).model.save(work / "deeppcb.npz")
                calib = [fit[i] for i in np.linspace(0, len(fit) - 1, min(args.calib, len(fit))).astype(int)]
                label = f"DeepPCB templates vs boards, fit {args.fit}, imgsz {args.imgsz}, layers {args.layers}"
                bench(label, npz, calib, good, bad, None, args.rounds, work)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
