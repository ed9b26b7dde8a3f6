"""Accuracy and speed of anomaly-model settings on synthetic surfaces with known defect masks.

    python -m training.anomaly_bench [--variants default,bank5pct,...] [--threads 1]

There is no real good-only surface set offline (NEU-DET has a defect in every image), so this measures on
the paint generator (`PaintGenerator`): fit on good panels of one seed, evaluate on good and defective
panels of another seed. Image AUROC (max of the map), pixel AUROC (the map against the rasterised defect
polygons, all pixels of all test images, MVTec convention) and ms per image (torch, after warm-up).
The numbers of each change are in docs/models.md.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import cv2
import numpy as np

from training.anomaly import FitConfig, auroc, fit_anomaly, pixel_auroc

__all__ = ["VARIANTS", "paint_sets", "run_variant"]

# the shipped paint model's settings (inspection/demo/models/paint_anomaly.md), then one change each
_PAINT = FitConfig(imgsz=256, gray=True, standardize=True, threshold_quantile=0.9)
VARIANTS: dict[str, FitConfig] = {
    "bank5pct": replace(_PAINT, coreset_ratio=0.05, max_bank=8000),  # the settings before issue 19
    "bank1pct": replace(_PAINT, coreset_ratio=0.01, max_bank=8000),
    "bank2pct": replace(_PAINT, coreset_ratio=0.02, max_bank=8000),
    "default": _PAINT,
    "stretch": replace(_PAINT, aspect="stretch"),  # the whole image resized to the square input (before windows)
    "windows": replace(_PAINT, aspect="windows"),  # square windows of the short side (auto picks it for mixed)
    "nopad": replace(_PAINT, pad_px=0, coreset_ratio=0.05),
    "nopad1pct": replace(_PAINT, pad_px=0, coreset_ratio=0.01),
    "nopad2pct": replace(_PAINT, pad_px=0, coreset_ratio=0.02),
}


MIXED_SIZES = {  # (height, width) of the `--mixed` panels
    "aspect": ((320, 320), (256, 256), (384, 288), (240, 320)),
    "square": ((320, 320), (256, 256), (384, 384)),
}


def paint_sets(n_fit: int = 120, n_test: int = 40, mixed: str = "") -> tuple[
        list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Good fit images (seed 777), good and defective test images (seed 4242) with defect masks; with
    `mixed` ("aspect" or "square"), the panels cycle through those MIXED_SIZES (a generator per size)."""
    from inspection.simulation.synthetic import PaintGenerator

    sizes = MIXED_SIZES[mixed] if mixed else ((320, 320),)
    fit_gens = [PaintGenerator(seed=777, size=s) for s in sizes]
    test_gens = [PaintGenerator(seed=4242, size=s) for s in sizes]
    fit, i = [], 0
    while len(fit) < n_fit:
        part = fit_gens[i % len(sizes)].part(i)
        i += 1
        if part.is_good:
            fit.append(part.image)
    good, bad, masks, i = [], [], [], 0
    while len(good) < n_test or len(bad) < n_test:
        part = test_gens[i % len(sizes)].part(i)
        i += 1
        if part.is_good and len(good) < n_test:
            good.append(part.image)
        elif not part.is_good and len(bad) < n_test:
            mask = np.zeros(part.image.shape[:2], np.uint8)
            for defect in part.defects:
                cv2.fillPoly(mask, [np.round(defect.polygon).astype(np.int32)], 1)
            bad.append(part.image)
            masks.append(mask)
    return fit, good, bad, masks


def run_variant(name: str, config: FitConfig, sets: tuple, threads: int) -> dict[str, float]:
    import tempfile
    from pathlib import Path

    import torch

    from inspection.anomaly.runtime import AnomalyRuntime
    from training.anomaly_export import export_anomaly

    torch.set_num_threads(threads)
    fit, good, bad, masks = sets
    report = fit_anomaly(fit, config)
    with tempfile.TemporaryDirectory() as tmp:
        path = report.model.save(Path(tmp) / f"{name}.npz")
        runtime = AnomalyRuntime(path, threads=threads)
        good_maps, good_scores = runtime.score_images(good)
        bad_maps, bad_scores = runtime.score_images(bad)
        ms = _ms_per_image(runtime, good)
        exported = AnomalyRuntime(export_anomaly(path, "openvino"), threads=threads)
        ms_openvino = _ms_per_image(exported, good)
    maps = [*good_maps, *bad_maps]  # a windows model keeps each image's proportions: shapes differ
    all_masks = [np.zeros(g.shape[:2], np.uint8) for g in good] + masks
    return {"image_auroc": auroc(good_scores, bad_scores), "pixel_auroc": pixel_auroc(maps, all_masks),
            "bank": float(report.model.memory_bank.shape[0]), "ms": ms, "ms_openvino": ms_openvino,
            "fit_s": report.fit_s}


def _ms_per_image(runtime: object, images: list[np.ndarray]) -> float:
    """Median of 3 rounds of 10 single-image passes after warm-up (the CPU is shared: medians, not means)."""
    for _ in range(3):
        runtime.analyse(images[0])  # type: ignore[attr-defined]
    rounds = []
    for _ in range(3):
        started = time.perf_counter()
        for image in images[:10]:
            runtime.analyse(image)  # type: ignore[attr-defined]
        rounds.append((time.perf_counter() - started) * 1e3 / 10)
    return float(np.median(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mixed", choices=sorted(MIXED_SIZES), default="",
                        help="panels of different sizes (fit and test): other aspect ratios too, or squares only")
    args = parser.parse_args()
    sets = paint_sets(mixed=args.mixed)
    for name in args.variants.split(","):
        row = run_variant(name, VARIANTS[name], sets, args.threads)
        print(f"{name:10s} image AUROC {row['image_auroc']:.4f}  pixel AUROC {row['pixel_auroc']:.4f}  "
              f"bank {row['bank']:.0f}  torch {row['ms']:.1f} ms/image  openvino {row['ms_openvino']:.1f} ms/image  "
              f"fit {row['fit_s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
