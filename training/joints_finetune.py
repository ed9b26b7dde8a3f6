"""Fine-tuning the top of the joint classifier's backbone (head format `aoi-joint-head/2`).

Why only the top: on 2 shared CPU cores a full fine-tune of EfficientNet-Lite0 takes hours. The early blocks
(edges, textures) transfer well from ImageNet and stay frozen, so their output maps are computed ONCE per
image and view (flips, rotations, a jittered copy) and cached; each epoch then runs only the last MBConv
blocks, `conv_head`, `bn1` and the MLP head, on the cached maps. BatchNorm statistics stay frozen (the data
set is small), the weights train with a smaller learning rate than the head.

Augmentation is a random choice among the cached views of each training crop per epoch (the views are real
image transforms, not feature tricks). The class imbalance is handled by the class-weighted loss, as in the
frozen recipe.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.aoi.classifier import FLIPS, JointFeatures, backbone_top, build_head, top_features
from training.progress import track

__all__ = ["FinetuneConfig", "TunedModel", "cached_maps", "fit_top", "predict_maps", "view_images"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    first_block: int = 15  # MBConv blocks from here on are tuned (15 = the last block of Lite0)
    epochs: int = 40
    batch_size: int = 64
    lr_head: float = 1e-3
    lr_top: float = 3e-4
    weight_decay: float = 1e-3
    hidden: int = 256
    dropout: float = 0.3
    label_smoothing: float = 0.05
    class_weight_power: float = 0.5  # 1 = inverse frequency, 0 = unweighted
    seed: int = 0


# Label-preserving views of a crop (a joint is a joint in any orientation). "jitter" is a seeded random
# zoom (0.85-1.15), shift (up to 8 % of the side) and brightness/contrast change (±15 %); "small" shrinks
# each crop to a seeded long side of 14-46 px.
VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    **FLIPS,
    "rot90": lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
    "transpose": lambda im: cv2.transpose(im),
}


def _jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    zoom = float(rng.uniform(0.85, 1.15))
    dx, dy = rng.uniform(-0.08, 0.08, 2) * (w, h)
    matrix = np.array([[zoom, 0, (1 - zoom) * w / 2 + dx], [0, zoom, (1 - zoom) * h / 2 + dy]], np.float32)
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    gain, bias = float(rng.uniform(0.85, 1.15)), float(rng.uniform(-0.15, 0.15)) * 128
    return np.clip(out.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


def view_images(name: str, images: Sequence[np.ndarray], seed: int) -> list[np.ndarray]:
    """The crops as seen by one view: a flip/rotation from `VIEWS`, or `jitterN` (seeded by seed and N)."""
    if name in VIEWS:
        return [VIEWS[name](im) for im in images]
    if name.startswith("jitter") and name[6:].isdigit():
        rng = np.random.default_rng([seed, int(name[6:])])
        return [_jitter(im, rng) for im in images]
    if name == "small":
        rng = np.random.default_rng(seed)
        return [_small(im, rng) for im in images]
    raise ValueError(f"unknown view {name!r}; expected one of {', '.join(VIEWS)}, small or jitter1, jitter2 …")


def _small(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shrunk to a long side of 14-46 px (the normal crops' range), so size alone cannot tell a defect."""
    scale = float(rng.uniform(14, 46)) / max(image.shape[:2])
    if scale >= 1.0:
        return image
    size = (max(4, round(image.shape[1] * scale)), max(4, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def cached_maps(extractor: Callable[[], JointFeatures], images: Callable[[], Sequence[np.ndarray]],
                paths: Sequence[Path], view: str, n_blocks: int, imgsz: int, seed: int,
                cache: Path | None) -> np.ndarray:
    """Maps after the first `n_blocks` frozen blocks for one view of the crops (float16), from `cache` when
    they are there; a cache of maps after fewer blocks is advanced through the missing blocks instead.

    `extractor` and `images` are factories, so a fully cached run neither loads the backbone nor reads images."""
    key = hashlib.sha256(repr((view, imgsz, seed, [str(p) for p in paths])).encode()).hexdigest()[:16]
    folder = Path(cache) if cache is not None else None
    file = folder / f"joint_maps_{view}_b{n_blocks}_{key}.npy" if folder is not None else None
    if file is not None and file.is_file():
        return np.load(file)
    t0 = time.perf_counter()
    pattern = re.compile(rf"joint_maps_{re.escape(view)}_b(\d+)_{key}\.npy")
    found = [(m, f) for f in (folder.iterdir() if folder is not None and folder.is_dir() else ())
             if (m := pattern.fullmatch(f.name))]
    earlier = sorted(((int(m.group(1)), f) for m, f in found if int(m.group(1)) < n_blocks), reverse=True)
    step = 64
    if earlier:
        start, source = earlier[0]
        stored = np.load(source)
        maps = extractor().advance(stored, start, n_blocks).astype(np.float16)
    else:
        crops = view_images(view, images(), seed)
        features = extractor()
        starts = range(0, len(crops), step)
        maps = np.concatenate([features.maps(crops[i:i + step], n_blocks).astype(np.float16)
                               for i in track(starts, f"maps {view}", len(starts))])
    log.info("maps of %d crops (%s) in %.1f s", len(maps), view, time.perf_counter() - t0)
    if file is not None:  # written whole, then renamed: a parallel run never reads half a file
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(f"{file.stem}.{os.getpid()}.partial.npy")
        np.save(partial, maps)
        os.replace(partial, file)
    return maps


@dataclass
class TunedModel:
    """The trained parts, ready to save: the top modules (the backbone's own), the head and the standardisation."""

    top: Any
    head: Any
    mean: Any
    std: Any
    first_block: int

    def round_top_to_half(self) -> None:
        """Round the tuned weights to fp16 in place, so metrics are those of the file that ships (fp16)."""
        import torch

        with torch.no_grad():
            for tensor in self.top.state_dict().values():
                if tensor.is_floating_point():
                    tensor.copy_(tensor.half().float())


def _features(top: Any, maps: np.ndarray, batch_size: int = 256) -> Any:
    import torch

    with torch.no_grad():
        return torch.cat([top_features(top, torch.from_numpy(maps[i:i + batch_size]).float())
                          for i in range(0, len(maps), batch_size)])


def fit_top(backbone: Any, train_views: Sequence[np.ndarray], labels: np.ndarray, n_classes: int,
            config: FinetuneConfig, echo: Callable[[str], None] = print) -> TunedModel:
    """Tune blocks from `config.first_block` on + conv_head + bn1 + a fresh MLP head on cached maps.

    `train_views[v][i]` is view v of training crop i (maps after the frozen blocks); each epoch draws one
    view per crop."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    top = backbone_top(backbone, config.first_block)
    top.eval()  # frozen BatchNorm statistics, no drop-connect: the layers run as at inference
    # Standardise with the statistics of the pretrained features (fixed afterwards: it is part of the model).
    initial = _features(top, train_views[0])
    mean, std = initial.mean(0), initial.std(0).clamp_min(1e-4)
    head = build_head(n_classes, config.hidden, config.dropout)
    for param in top.parameters():
        param.requires_grad_(True)
    optimiser = torch.optim.AdamW([
        {"params": list(top.parameters()), "lr": config.lr_top},
        {"params": list(head.parameters()), "lr": config.lr_head},
    ], weight_decay=config.weight_decay)
    n = len(labels)
    steps_per_epoch = (n + config.batch_size - 1) // config.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=[config.lr_top, config.lr_head], total_steps=config.epochs * steps_per_epoch,
        pct_start=0.1, anneal_strategy="cos")
    y_all = torch.from_numpy(np.asarray(labels, np.int64))
    counts = torch.bincount(y_all, minlength=n_classes).float().clamp_min(1)
    weights = (counts.sum() / (n_classes * counts)) ** config.class_weight_power
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)
    stacked = np.stack(train_views)  # V×N×C×H×W float16
    t0 = time.perf_counter()
    for epoch in track(range(config.epochs), "fine-tune epochs", config.epochs):
        head.train()
        order = rng.permutation(n)
        view_of = rng.integers(0, len(train_views), n)
        total = 0.0
        for start in range(0, n, config.batch_size):
            index = order[start:start + config.batch_size]
            x = torch.from_numpy(stacked[view_of[index], index].astype(np.float32))
            logits = head((top_features(top, x) - mean) / std)
            loss = loss_fn(logits, y_all[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
        if epoch == 0 or (epoch + 1) % 5 == 0 or epoch + 1 == config.epochs:
            echo(f"epoch {epoch + 1}/{config.epochs}: loss {total / n:.4f} ({time.perf_counter() - t0:.0f} s)")
    for param in top.parameters():
        param.requires_grad_(False)
    head.eval()
    return TunedModel(top, head, mean, std, config.first_block)


def predict_maps(model: TunedModel, views: Sequence[np.ndarray]) -> np.ndarray:
    """Class probabilities averaged over the given views of the same crops (one view = no averaging)."""
    import torch

    probs = []
    for maps in views:
        with torch.no_grad():
            logits = model.head((_features(model.top, maps) - model.mean) / model.std)
            probs.append(torch.softmax(logits, dim=1).numpy())
    return np.mean(probs, axis=0)
