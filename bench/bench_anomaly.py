"""Benchmark: good-only anomaly detection (PatchCore on EfficientNet-Lite0) vs plain baselines, same run.

Data:
- DeepPCB (`../shared/data/deeppcb`): the `*_temp.jpg` templates are defect-free boards. A seeded
  shuffle picks `--fit` templates to fit on (the fit holds out 20 % of them to choose the threshold) and
  `--eval` other templates as the good test set; their matching `*_test.jpg` boards are the bad set.
- Synthetic paint panels (`inspection.simulation.synthetic.PaintGenerator`): good panels of one seed to fit on, good
  and defective panels of another seed to evaluate.

Every method uses the same split and the same threshold rule (max score of the held-out good images):
- patchcore: `training.anomaly.fit_anomaly` (also timed through its ONNX and OpenVINO exports);
- mean-diff: max of the blurred |image − mean good image| (a golden-image comparison without alignment);
- pixel-knn: 16×16 raw-pixel patches (stride 8) at the same input size, nearest good patch distance.

Run: `.venv/bin/python bench/bench_anomaly.py [--dataset deeppcb|paint|all] [--fit 100] [--eval 60]`
Prints a markdown table (AUROC, escape rate, false-reject rate at the stored threshold, fit s, ms/image).
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspection.anomaly import AnomalyRuntime  # noqa: E402
from training.anomaly import FitConfig, auroc, fit_anomaly  # noqa: E402
from training.anomaly_export import export_anomaly  # noqa: E402

DEEPPCB = ROOT.parent / "shared" / "data" / "deeppcb"
Images = list[np.ndarray]


@dataclass
class Row:
    method: str
    auroc: float
    escape: float
    false_reject: float
    fit_s: float | None
    ms_per_image: float

    def markdown(self) -> str:
        fit = "—" if self.fit_s is None else f"{self.fit_s:.1f}"
        return (f"| {self.method} | {self.auroc:.3f} | {self.escape:.1%} | {self.false_reject:.1%} | "
                f"{fit} | {self.ms_per_image:.1f} |")


def deeppcb(n_fit: int, n_eval: int, seed: int, group: str = "*") -> tuple[Images, Images, Images]:
    """`group`: one DeepPCB group (one board design, as one product's model would be fitted) or all."""
    temps = sorted(glob.glob(str(DEEPPCB / "PCBData" / f"group{group}" / "*" / "*_temp.jpg")))
    if not temps:
        raise SystemExit(f"DeepPCB not found under {DEEPPCB}")
    random.Random(seed).shuffle(temps)
    fit = [cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in temps[:n_fit]]
    held = temps[n_fit:n_fit + n_eval]
    good = [cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in held]
    bad = [cv2.imread(p.replace("_temp.jpg", "_test.jpg"), cv2.IMREAD_GRAYSCALE) for p in held]
    return fit, good, bad


def paint(n_fit: int, n_eval: int, seed: int, size: int) -> tuple[Images, Images, Images]:
    """Good panels rendered with every defect probability at 0; bad ones with the generator's defaults."""
    from inspection.simulation.synthetic import PAINT_CLASSES, PaintGenerator

    none = dict.fromkeys(PAINT_CLASSES, 0.0)
    fit_gen = PaintGenerator(seed=seed, size=(size, size))
    eval_gen = PaintGenerator(seed=seed + 1000, size=(size, size))
    fit = [fit_gen.part(i, none).image for i in range(n_fit)]
    good = [eval_gen.part(i, none).image for i in range(n_eval)]
    bad: Images = []
    i = n_eval
    while len(bad) < n_eval:
        part = eval_gen.part(i)
        i += 1
        if not part.is_good:
            bad.append(part.image)
    return fit, good, bad


def split(images: Images, seed: int, val_fraction: float = 0.2) -> tuple[Images, Images]:
    """The same split `fit_anomaly` makes, so every method gets its threshold from the same images."""
    order = np.random.default_rng(seed).permutation(len(images))
    n_val = max(2, round(len(images) * val_fraction))
    return [images[i] for i in order[n_val:]], [images[i] for i in order[:n_val]]


def rates(method: str, scorer: Callable[[Images], np.ndarray], threshold: float, good: Images, bad: Images,
          fit_s: float | None) -> Row:
    t0 = time.perf_counter()
    g, b = scorer(good), scorer(bad)
    ms = (time.perf_counter() - t0) * 1e3 / (len(good) + len(bad))
    return Row(method, auroc(g, b), float(np.mean(b < threshold)), float(np.mean(g >= threshold)), fit_s, ms)


def _gray(image: np.ndarray, size: int) -> np.ndarray:
    image = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def mean_diff(fit: Images, good: Images, bad: Images, seed: int, size: int) -> Row:
    t0 = time.perf_counter()
    train, val = split(fit, seed)
    mean = np.mean([_gray(i, size) for i in train], axis=0)

    def score(images: Images) -> np.ndarray:
        return np.array([cv2.GaussianBlur(np.abs(_gray(i, size) - mean), (0, 0), size / 64).max() for i in images])

    threshold = float(score(val).max())
    return rates("mean-diff (baseline)", score, threshold, good, bad, time.perf_counter() - t0)


def pixel_knn(fit: Images, good: Images, bad: Images, seed: int, size: int, bank_size: int = 20000) -> Row:
    t0 = time.perf_counter()
    train, val = split(fit, seed)

    def patches(image: np.ndarray) -> torch.Tensor:
        return torch.nn.functional.unfold(torch.from_numpy(_gray(image, size))[None, None], 16, stride=8)[0].T

    bank = torch.cat([patches(i) for i in train])
    keep = torch.randperm(bank.shape[0], generator=torch.Generator().manual_seed(seed))[:bank_size]
    bank = bank[keep]

    def score(images: Images) -> np.ndarray:
        return np.array([float(torch.cdist(patches(i), bank).min(1).values.max()) for i in images])

    threshold = float(score(val).max())
    return rates("pixel-knn (baseline)", score, threshold, good, bad, time.perf_counter() - t0)


def patchcore(fit: Images, good: Images, bad: Images, config: FitConfig, threads: int,
              exports: bool) -> list[Row]:
    t0 = time.perf_counter()
    report = fit_anomaly(fit, config)
    fit_s = time.perf_counter() - t0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = report.model.save(Path(tmp) / "model.npz")
        paths = {"torch": path}
        if exports:
            paths["onnx"] = export_anomaly(path, "onnx")
            paths["openvino"] = export_anomaly(path, "openvino")
        for backend, model_path in paths.items():
            runtime = AnomalyRuntime(model_path, threads=threads)
            runtime.score_images(good[:1])  # warm-up

            def score(images: Images, rt: AnomalyRuntime = runtime) -> np.ndarray:
                return rt.score_images(images, batch_size=1)[1]

            name = f"PatchCore EffNet-Lite0 ({backend})"
            fit_time = fit_s if backend == "torch" else None
            rows.append(rates(name, score, report.model.meta.threshold, good, bad, fit_time))
    return rows


def bench(name: str, data: tuple[Images, Images, Images], args: argparse.Namespace) -> None:
    fit, good, bad = data
    shape = fit[0].shape
    print(f"\n### {name}: fit on {len(fit)} good ({shape[1]}×{shape[0]}), evaluate {len(good)} good vs "
          f"{len(bad)} bad, imgsz {args.imgsz}, layers {args.layers}, {args.threads} thread(s), "
          f"{torch.__version__} on {os.cpu_count()} CPUs\n")
    print("| method | image AUROC | escape rate | false-reject rate | fit s | ms/image |")
    print("|---|---|---|---|---|---|")
    config = FitConfig(imgsz=args.imgsz, layers=tuple(args.layers), border_px=args.border, seed=args.seed)
    for row in patchcore(fit, good, bad, config, args.threads, not args.no_export):
        print(row.markdown(), flush=True)
    if fit[0].ndim == 3:  # colour parts: the same with luminance + per-image contrast normalisation
        config = FitConfig(imgsz=args.imgsz, layers=tuple(args.layers), border_px=args.border, seed=args.seed,
                           gray=True, standardize=True)
        for row in patchcore(fit, good, bad, config, args.threads, False):
            row.method += ", gray + standardize"
            print(row.markdown(), flush=True)
    print(mean_diff(fit, good, bad, args.seed, args.imgsz).markdown(), flush=True)
    print(pixel_knn(fit, good, bad, args.seed, args.imgsz).markdown(), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["deeppcb", "paint", "all"], default="all")
    parser.add_argument("--fit", type=int, default=100, help="good images to fit on (20 %% held out)")
    parser.add_argument("--eval", type=int, default=60, help="good and bad images each to evaluate")
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 10])
    parser.add_argument("--border", type=int, default=None, help="map pixels left out of the score (imgsz/16)")
    parser.add_argument("--group", default="*", help="DeepPCB group (board design), e.g. 20085; default all")
    parser.add_argument("--paint-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-export", action="store_true", help="skip the ONNX/OpenVINO timings")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.dataset in ("deeppcb", "all"):
        where = "all 7 board designs" if args.group == "*" else f"group {args.group}"
        bench(f"DeepPCB templates vs defective boards ({where})", deeppcb(args.fit, args.eval, args.seed, args.group),
              args)
    if args.dataset in ("paint", "all"):
        bench("Synthetic paint panels", paint(args.fit, args.eval, args.seed, args.paint_size), args)


if __name__ == "__main__":
    main()
