"""Fit and evaluate good-only anomaly models (PatchCore on a frozen EfficientNet-Lite0).

Fit: the good images are split (seeded) into a fit set and a held-out validation set. Patch features of
the fit set go through greedy k-center coreset subsampling (PatchCore, 2 % of the patches) into the
memory bank. Images may differ in size: each is resized to imgsz × imgsz, and the model then takes
any size (`fixed_size`); a folder of one size binds the model to that size unless told otherwise. The
validation images are then scored like any new part, and the threshold is the `threshold_quantile`
of their scores (default 1.0: the highest held-out good score, so no held-out good part is rejected;
the expected false-reject rate on new good parts is then about 1 / (n_val + 1)). The threshold, the
good-score median and the validation numbers are stored in the model file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from inspection.anomaly.model import (
    ANY_SIZE,
    ASPECTS,
    AnomalyMeta,
    AnomalyModel,
    preprocess_windows,
)
from inspection.anomaly.runtime import AnomalyRuntime
from inspection.domain.images import IMAGE_SUFFIXES, image_files
from inspection.errors import DataError
from training.progress import bar, track

logger = logging.getLogger(__name__)

__all__ = [
    "MIN_GOOD_IMAGES",
    "EvalReport",
    "FitConfig",
    "FitReport",
    "auroc",
    "evaluate",
    "fit_anomaly",
    "fit_folder",
    "greedy_coreset",
    "pixel_auroc",
    "read_folder",
    "read_masks",
]

MIN_GOOD_IMAGES = 8


@dataclass(frozen=True, slots=True)
class FitConfig:
    imgsz: int = 256
    layers: tuple[int, ...] = (4, 10)  # EfficientNet-Lite0 blocks: stride 8 (40 ch) and stride 16 (112 ch)
    coreset_ratio: float = 0.02  # 0.05 before issue 19: same AUROC on the paint set, 2.5× fewer distances
    max_bank: int = 8000
    projection_dim: int = 64  # random projection used only to pick the coreset (PatchCore)
    val_fraction: float = 0.2
    threshold_quantile: float = 1.0
    blur_sigma: float | None = None  # None: imgsz / 64 (PatchCore's σ = 4 at 256 px)
    gray: bool = False  # colour → luminance before the backbone
    standardize: bool = False  # per-image (x − mean) / std instead of the fixed ImageNet-style scaling
    pad_px: int = 32  # mirror padding of the input against edge artefacts (multiple of 32)
    border_px: int | None = None  # map pixels along each edge left out of the score; None: imgsz / 16
    batch_size: int = 8
    seed: int = 0
    backbone: str = "efficientnet-lite0"
    # None: bind the model to the folder's size when all good images share one (a frame of another size
    # is then refused: the camera setup changed), else take any size. True: one size required. False: any.
    fixed_size: bool | None = None
    # How images that are not square reach the square input (AnomalyMeta.aspect): "stretch" (one network pass
    # per image) or "windows" (square windows of the short side; opt-in: on the mixed-aspect paint panels it
    # did not beat stretching consistently, docs/models.md).
    aspect: str = "stretch"

    def __post_init__(self) -> None:
        if self.imgsz < 64 or self.imgsz > 1024 or self.imgsz % 32:
            raise DataError(f"imgsz: expected a multiple of 32 between 64 and 1024, got {self.imgsz}")
        if not 0.0 < self.val_fraction < 1.0:
            raise DataError(f"val_fraction: expected 0..1, got {self.val_fraction}")
        if not 0.5 <= self.threshold_quantile <= 1.0:
            raise DataError(f"threshold_quantile: expected 0.5..1.0, got {self.threshold_quantile}")
        if self.pad_px < 0 or self.pad_px % 32 or self.pad_px >= self.imgsz:
            raise DataError(f"pad_px: expected a multiple of 32 below imgsz, got {self.pad_px}")
        if self.border_px is not None and not 0 <= self.border_px < self.imgsz // 4:
            raise DataError(f"border_px: expected 0..{self.imgsz // 4 - 1}, got {self.border_px}")
        if self.aspect not in ASPECTS:
            raise DataError(f"aspect: expected {' or '.join(ASPECTS)}, got {self.aspect!r}")
        if not 0.0 < self.coreset_ratio <= 1.0:
            raise DataError(f"coreset_ratio: expected 0..1, got {self.coreset_ratio}")


@dataclass(frozen=True, slots=True)
class FitReport:
    model: AnomalyModel
    n_fit: int
    n_val: int
    val_scores: np.ndarray
    fit_s: float


@dataclass(frozen=True, slots=True)
class EvalReport:
    auroc: float
    escape_rate: float
    false_reject_rate: float
    threshold: float
    n_good: int
    n_bad: int
    ms_per_image: float
    good_scores: np.ndarray = field(repr=False)
    bad_scores: np.ndarray = field(repr=False)
    pixel_auroc: float | None = None  # only where defect masks were given

    def rows(self) -> list[tuple[str, str]]:
        pixel = [("pixel AUROC", f"{self.pixel_auroc:.4f}")] if self.pixel_auroc is not None else []
        return [
            ("images", f"{self.n_good} good, {self.n_bad} bad"),
            ("image AUROC", f"{self.auroc:.4f}"),
            *pixel,
            ("threshold", f"{self.threshold:.4g}"),
            ("escape rate", f"{self.escape_rate:.2%}  (bad scored below the threshold)"),
            ("false-reject rate", f"{self.false_reject_rate:.2%}  (good scored at/above the threshold)"),
            ("ms / image", f"{self.ms_per_image:.1f}"),
        ]


# --- images ------------------------------------------------------------------------------------


def read_image(path: Path) -> np.ndarray:
    """An 8-bit mono or BGR image, or a DataError that names the file."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(f"{path}: not a readable image")
    if image.dtype != np.uint8:
        raise DataError(f"{path}: {image.dtype} pixels; the anomaly model takes 8-bit images, convert them first")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] != 3:
        raise DataError(f"{path}: {image.shape[2]}-channel image; expected mono or BGR (drop the alpha channel)")
    return image


def read_folder(folder: Path | str, minimum: int = 1, what: str = "images", one_size: bool = False,
                channels: int | None = None) -> tuple[list[Path], list[np.ndarray]]:
    """All images of a folder (sorted), of one channel count (and of one size with `one_size`).

    Grey images saved with three equal channels become mono where the folder also holds mono images, or
    where `channels` (a mono model's) asks for mono: real sets mix both ways of saving grey."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of {what}")
    paths = image_files(folder)
    if len(paths) < minimum:
        raise DataError(
            f"{folder}: {len(paths)} {what}, need at least {minimum} "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}); add more images"
        )
    images = unify_grey([read_image(p) for p in paths], channels)
    check_uniform(images, paths, one_size)
    return paths, images


def unify_grey(images: list[np.ndarray], channels: int | None = None) -> list[np.ndarray]:
    """Grey-as-BGR images → mono, when mono is wanted (`channels` 1) or some images are mono already. Lossless;
    a folder that mixes true colour with mono is left as it is (check_uniform refuses it)."""
    if channels != 1 and not any(image.ndim == 2 for image in images):
        return images
    if channels == 3 or not all(image.ndim == 2 or _gray_as_bgr(image) for image in images):
        return images
    converted = [image if image.ndim == 2 else np.ascontiguousarray(image[:, :, 0]) for image in images]
    changed = sum(image.ndim == 3 for image in images)
    if changed:
        logger.info("%d grey image(s) saved with three equal channels read as mono", changed)
    return converted


def read_masks(folder: Path | str, images: Sequence[Path]) -> list[np.ndarray]:
    """The defect mask of each image: the file in `folder` with the image's stem (any image suffix)."""
    by_stem = {p.stem: p for p in image_files(Path(folder))}
    masks = []
    for image in images:
        path = by_stem.get(image.stem)
        if path is None:
            raise DataError(f"{image.name}: no defect mask named {image.stem}.* in {folder}; give one mask per "
                            f"bad image (nonzero = defect, empty for a defect that cannot be outlined)")
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise DataError(f"{path}: not a readable mask image")
        masks.append(mask)
    return masks


def check_uniform(images: Sequence[np.ndarray], names: Sequence[object], one_size: bool = True) -> None:
    """One camera, one setup: every image 8-bit mono/BGR, with the first one's channel count (and size)."""
    for image, name in zip(images, names, strict=True):
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise DataError(f"{name}: {image.dtype} image of shape {image.shape}; expected 8-bit mono (H×W) "
                            f"or BGR (H×W×3)")
    first = images[0].shape
    for image, name in zip(images, names, strict=True):
        if image.ndim != len(first) or (one_size and image.shape != first):
            hint = ""
            if image.shape[:2] == first[:2] and any(_gray_as_bgr(i) for i in (image, images[0])):
                hint = " (a gray image saved with 3 channels: convert the folder to one format, e.g. all mono)"
            what = "one size and channel count" if one_size else "one channel count"
            raise DataError(f"{name}: shape {image.shape} differs from {names[0]} {first}; fit one model per "
                            f"camera setup, with images of {what}{hint}")


def _gray_as_bgr(image: np.ndarray) -> bool:
    return image.ndim == 3 and bool(np.array_equal(image[..., 0], image[..., 1])
                                    and np.array_equal(image[..., 1], image[..., 2]))


# --- fit ---------------------------------------------------------------------------------------


def greedy_coreset(features: np.ndarray, count: int, projection_dim: int, seed: int) -> np.ndarray:
    """Indices of `count` rows chosen by greedy k-center (each new row the farthest from those chosen)."""
    import torch

    n = features.shape[0]
    if count >= n:
        return np.arange(n)
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(features)
    if projection_dim and projection_dim < x.shape[1]:  # Johnson-Lindenstrauss: distances roughly kept
        x = x @ (torch.randn(x.shape[1], projection_dim, generator=gen) / projection_dim**0.5)
    sq = (x * x).sum(1)
    chosen = [int(torch.randint(n, (1,), generator=gen))]
    nearest = torch.full((n,), float("inf"))
    with bar("coreset", count - 1) as advance:
        for _ in range(count - 1):
            c = x[chosen[-1]]
            nearest = torch.minimum(nearest, sq - 2.0 * (x @ c) + sq[chosen[-1]])
            chosen.append(int(torch.argmax(nearest)))
            advance(1)
    return np.asarray(chosen)


def _features(extractor: object, images: Sequence[np.ndarray], meta: AnomalyMeta, batch: int) -> np.ndarray:
    import torch

    chunks = []
    starts = range(0, len(images), batch)
    with torch.inference_mode():
        for start in track(starts, "features", len(starts)):
            tensors = np.concatenate([preprocess_windows(image, meta)[0] for image in images[start:start + batch]])
            f = extractor(torch.from_numpy(tensors))  # type: ignore[operator]
            chunks.append(f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]).numpy())
    return np.concatenate(chunks).astype(np.float32)


def fit_anomaly(
    images: Sequence[np.ndarray], config: FitConfig = FitConfig(), names: Sequence[object] | None = None
) -> FitReport:
    """Fit a PatchCore model on good images; the threshold comes from a held-out part of them."""
    import torch

    from inspection.anomaly.network import PatchCoreScorer, load_features, weights_sha256

    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    if len(images) < MIN_GOOD_IMAGES:
        raise DataError(
            f"{len(images)} good images, need at least {MIN_GOOD_IMAGES} (some are held out to "
            f"choose the threshold); add more good images"
        )
    check_uniform(images, names, one_size=config.fixed_size is True)
    sizes = {tuple(image.shape[:2]) for image in images}
    fixed = len(sizes) == 1 if config.fixed_size is None else config.fixed_size
    started = time.perf_counter()
    order = np.random.default_rng(config.seed).permutation(len(images))
    n_val = max(2, round(len(images) * config.val_fraction))
    val_idx, fit_idx = order[:n_val], order[n_val:]
    shape = images[0].shape
    meta = AnomalyMeta(
        imgsz=config.imgsz,
        image_shape=(int(shape[0]), int(shape[1])) if fixed else ANY_SIZE,
        channels=1 if len(shape) == 2 else 3,
        threshold=0.0,
        score_median=0.0,
        backbone=config.backbone,
        backbone_sha256=weights_sha256(config.backbone),
        layers=tuple(config.layers), pad_px=config.pad_px,
        border_px=config.border_px if config.border_px is not None else config.imgsz // 16,
        gray=config.gray, standardize=config.standardize,
        blur_sigma=config.blur_sigma if config.blur_sigma is not None else config.imgsz / 64.0,
        aspect=config.aspect,
    )
    extractor = load_features(config.backbone, meta.layers, pad_px=meta.pad_px)
    feats = _features(extractor, [images[i] for i in fit_idx], meta, config.batch_size)
    count = min(config.max_bank, max(1, round(feats.shape[0] * config.coreset_ratio)))
    bank = feats[greedy_coreset(feats, count, config.projection_dim, config.seed)]
    scorer = PatchCoreScorer(extractor, bank, meta.imgsz, meta.blur_sigma, meta.border_px)
    val_scores = []
    with torch.inference_mode():
        for i in track(val_idx, "threshold", len(val_idx)):
            _, score = scorer(torch.from_numpy(preprocess_windows(images[i], meta)[0]))
            val_scores.append(float(score.max()))  # the image's score: its highest window
    scores = np.asarray(val_scores)
    threshold = float(np.quantile(scores, config.threshold_quantile))
    fit_s = time.perf_counter() - started
    rule = (
        "max of held-out good scores"
        if config.threshold_quantile >= 1.0
        else f"{config.threshold_quantile:.3g} quantile of held-out good scores"
    )
    metrics = {
        "n_fit": float(len(fit_idx)),
        "n_val": float(n_val),
        "bank_size": float(bank.shape[0]),
        "feature_dim": float(bank.shape[1]),
        "val_score_mean": float(scores.mean()),
        "val_score_std": float(scores.std()),
        "val_score_max": float(scores.max()),
        "sizes": float(len(sizes)),
        "aspect_ratios": float(len({round(w / h, 2) for h, w in sizes})),
        "fit_s": round(fit_s, 2),
    }
    meta = AnomalyMeta(
        **{
            **_fields(meta),
            "threshold": threshold,
            "score_median": float(np.median(scores)),
            "threshold_rule": rule,
            "metrics": metrics,
        }
    )
    return FitReport(AnomalyModel(meta, bank), len(fit_idx), n_val, scores, fit_s)


def _fields(meta: AnomalyMeta) -> dict[str, object]:
    return {name: getattr(meta, name) for name in AnomalyMeta.__dataclass_fields__}


def fit_folder(good: Path | str, out: Path | str, config: FitConfig = FitConfig()) -> FitReport:
    paths, images = read_folder(good, MIN_GOOD_IMAGES, "good images", one_size=config.fixed_size is True)
    report = fit_anomaly(images, config, paths)
    report.model.save(out)
    return report


# --- evaluate ----------------------------------------------------------------------------------


def auroc(good_scores: np.ndarray, bad_scores: np.ndarray) -> float:
    """Probability that a bad image scores above a good one (ties count half): the ROC area."""
    good, bad = np.asarray(good_scores, float), np.asarray(bad_scores, float)
    if good.size == 0 or bad.size == 0:
        raise DataError("AUROC needs at least one good and one bad image")
    greater = (bad[:, None] > good[None, :]).sum()
    ties = (bad[:, None] == good[None, :]).sum()
    return float((greater + 0.5 * ties) / (good.size * bad.size))


def pixel_auroc(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> float:
    """ROC area of per-pixel anomaly scores against defect masks (nonzero = defect), all pixels pooled
    (MVTec convention); each mask is resized (nearest) to its map, as its image was to the network."""
    if len(maps) != len(masks) or not maps:
        raise DataError(f"pixel AUROC: {len(maps)} maps for {len(masks)} masks")
    scores = np.concatenate([np.asarray(m, np.float64).reshape(-1) for m in maps])
    truth = np.concatenate([cv2.resize((np.asarray(k) > 0).astype(np.uint8), m.shape[::-1],
                                       interpolation=cv2.INTER_NEAREST).reshape(-1)
                            for m, k in zip(maps, masks, strict=True)])
    n_pos = int(truth.sum())
    n_neg = truth.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise DataError("pixel AUROC needs defect pixels and defect-free pixels; the masks are all empty or full")
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    _, first, counts = np.unique(ranked, return_index=True, return_counts=True)
    ranks = np.repeat(first + (counts + 1) / 2.0, counts)  # 1-based, ties share their mean rank
    return float((ranks[truth[order] > 0].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _scores(runtime: AnomalyRuntime, images: Sequence[np.ndarray], what: str,
            maps: list[np.ndarray] | None = None, chunk: int = 4) -> np.ndarray:
    starts = range(0, len(images), chunk)
    out = []
    for i in track(starts, f"scoring {what}", len(starts)):
        m, s = runtime.score_images(list(images[i:i + chunk]))
        out.append(s)
        if maps is not None:
            maps.extend(m)
    return np.concatenate(out or [np.zeros(0)])


def evaluate(runtime: AnomalyRuntime, good: Sequence[np.ndarray], bad: Sequence[np.ndarray],
             bad_masks: Sequence[np.ndarray] | None = None) -> EvalReport:
    """Image-level AUROC, escape and false-reject rates at the model's stored threshold; with a defect
    mask per bad image, also pixel-level AUROC (good images count as all defect-free pixels)."""
    if bad_masks is not None and len(bad_masks) != len(bad):
        raise DataError(f"{len(bad_masks)} defect masks for {len(bad)} bad images; give one mask per bad image")
    started = time.perf_counter()
    maps: list[np.ndarray] | None = [] if bad_masks is not None else None
    good_scores, bad_scores = _scores(runtime, good, "good", maps), _scores(runtime, bad, "bad", maps)
    ms = (time.perf_counter() - started) * 1e3 / max(1, len(good) + len(bad))
    pixel = None
    if maps is not None and bad_masks is not None:
        pixel = pixel_auroc(maps, [np.zeros(g.shape[:2], np.uint8) for g in good] + list(bad_masks))
    thr = runtime.meta.threshold
    return EvalReport(
        auroc=auroc(good_scores, bad_scores),
        escape_rate=float(np.mean(bad_scores < thr)),
        false_reject_rate=float(np.mean(good_scores >= thr)),
        threshold=thr,
        n_good=len(good),
        n_bad=len(bad),
        ms_per_image=ms,
        good_scores=good_scores,
        bad_scores=bad_scores,
        pixel_auroc=pixel,
    )
