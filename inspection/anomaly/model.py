"""The anomaly model artefact: what was learnt from good parts, and the rules that travel with it.

A model file is a NumPy `.npz` (no pickle): `memory_bank` (float32, patches × feature dims) and `meta`
(one JSON string). The meta holds everything the runtime needs to score an image exactly as in the fit
(backbone, layers, input size, normalisation, blur) and the decision rule learnt on held-out good
images (threshold, the good-score median used to map scores to 0..1 confidences, validation metrics).
Exported ONNX/OpenVINO files carry the same meta, so thresholds never get separated from the model.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import DataError, ModelError

__all__ = [
    "ANY_SIZE",
    "FORMAT",
    "AnomalyMeta",
    "AnomalyModel",
    "check_image",
    "confidence",
    "load_npz_model",
    "preprocess",
    "preprocess_windows",
    "stitch",
    "windows_for",
]

FORMAT = "inspection-anomaly/1"
ANY_SIZE = (0, 0)  # image_shape of a model fitted on images of different sizes
ASPECTS = ("stretch", "windows")
SQUARE_ENOUGH = 1.05  # long/short side up to this: one window, stretched (the distortion is below 5 %)


@dataclass(frozen=True, slots=True)
class AnomalyMeta:
    """Everything about an anomaly model except its memory bank.

    `image_shape` is (height, width) of the good images it was fitted on: a frame of another size is
    refused, because patch features are not scale invariant. (0, 0) (`ANY_SIZE`) means the model was
    fitted on images of different sizes and takes any size, each resized to imgsz × imgsz like the good
    images were. `channels` is 1 (mono) or 3 (BGR).
    An image is anomalous when its score (max of the blurred anomaly map) is >= `threshold`.
    `aspect` says how an image that is not square reaches the square network input: "stretch" resizes the
    whole image (one pass; right when every image has the same proportions), "windows" scores square windows
    of the short side laid along the long side, each resized, so texture keeps its proportions whatever the
    image's aspect ratio (see `windows_for`).
    """

    imgsz: int
    image_shape: tuple[int, int]
    channels: int
    threshold: float
    score_median: float
    backbone: str = "efficientnet-lite0"
    backbone_sha256: str = ""
    layers: tuple[int, ...] = (4, 10)
    pixel_mean: float = 127.0
    pixel_std: float = 128.0
    blur_sigma: float = 4.0
    gray: bool = False  # colour → luminance before the backbone (colour variation is not a defect)
    standardize: bool = False  # per-image contrast: (x − image mean) / image std, then × pixel_std
    pad_px: int = 0  # input mirror padding (multiple of 32), cropped off the features
    border_px: int = 0  # map pixels along each edge left out of the score (padding artefacts of cropped views)
    method: str = "patchcore"
    aspect: str = "stretch"  # "stretch" or "windows"; models fitted before it existed stretch
    threshold_rule: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    format: str = FORMAT

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ModelError(f"anomaly model: channels must be 1 or 3, got {self.channels}")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ModelError(f"anomaly model: imgsz must be a multiple of 32 (>= 32), got {self.imgsz}")
        if not 0 <= self.border_px < self.imgsz // 4:
            raise ModelError(f"anomaly model: border_px must be 0..{self.imgsz // 4 - 1}, got {self.border_px}")
        if not math.isfinite(self.threshold) or self.threshold < 0:  # 0 while fitting, before it is tuned
            raise ModelError(f"anomaly model: threshold must be a finite score >= 0, got {self.threshold}")
        if not (math.isfinite(self.pixel_std) and self.pixel_std > 0):  # 0 makes every score NaN
            raise ModelError(f"anomaly model: pixel_std must be a finite positive number, got {self.pixel_std}")
        if self.aspect not in ASPECTS:
            raise ModelError(f"anomaly model: aspect must be one of {', '.join(ASPECTS)}, got {self.aspect!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> AnomalyMeta:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ModelError(f"{source}: anomaly model format {data.get('format')!r}, this station reads "
                                 f"{FORMAT!r}; refit it with `station anomaly fit`")
            data["image_shape"] = tuple(data["image_shape"])
            data["layers"] = tuple(data["layers"])
            return cls(**data)
        except ModelError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ModelError(f"{source}: anomaly model metadata is unreadable ({exc}); refit the model") from None

    @property
    def any_size(self) -> bool:
        return tuple(self.image_shape) == ANY_SIZE

    @property
    def shape_text(self) -> str:
        h, w = self.image_shape
        kind = "mono" if self.channels == 1 else "BGR"
        return f"any size (resized to {self.imgsz}×{self.imgsz}) {kind}" if self.any_size else f"{w}×{h} {kind}"

    def sample_shape(self) -> tuple[int, ...]:
        """Shape of an image this model takes (warm-up, export checks): its fitted size, else imgsz²."""
        h, w = (self.imgsz, self.imgsz) if self.any_size else self.image_shape
        return (h, w) if self.channels == 1 else (h, w, 3)


@dataclass(frozen=True)
class AnomalyModel:
    """A fitted PatchCore model: meta + memory bank of good patch features (float32, N × D)."""

    meta: AnomalyMeta
    memory_bank: np.ndarray

    def __post_init__(self) -> None:
        bank = self.memory_bank
        if bank.ndim != 2 or bank.shape[0] < 1 or bank.dtype != np.float32:
            raise ModelError(f"anomaly model: memory bank must be float32 N×D, got {bank.dtype} {bank.shape}")
        if not np.isfinite(bank).all():  # one NaN row makes every distance, and so every score, NaN: all pass
            raise ModelError("anomaly model: the memory bank holds NaN or infinite values; the file is damaged, "
                             "fit the model again with `station anomaly fit`")

    def with_threshold(self, threshold: float, rule: str) -> AnomalyModel:
        return AnomalyModel(replace(self.meta, threshold=float(threshold), threshold_rule=rule), self.memory_bank)

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        if path.suffix != ".npz":
            raise ModelError(f"{path}: anomaly models are saved as .npz; name the file *.npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:  # np.savez would append .npz to a name it does not like
            np.savez_compressed(handle, memory_bank=self.memory_bank, meta=np.array(self.meta.to_json()))
        return path


def load_npz_model(path: Path | str) -> AnomalyModel:
    """Read a `.npz` anomaly model with errors that say what to do."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"anomaly model {path} does not exist; fit one with `station anomaly fit`")
    try:
        with np.load(path, allow_pickle=False) as data:
            bank = np.asarray(data["memory_bank"], dtype=np.float32)
            meta_text = str(data["meta"])
    except KeyError as exc:
        raise ModelError(f"{path}: not an anomaly model (missing {exc}); fit one with `station anomaly fit`") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: not an anomaly model file ({exc}); fit one with `station anomaly fit`") from None
    return AnomalyModel(AnomalyMeta.from_json(meta_text, str(path)), bank)


def check_image(image: np.ndarray, meta: AnomalyMeta, what: str = "image") -> None:
    """Refuse an image the model cannot judge: wrong dtype, channel count or size."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise DataError(f"{what}: expected an 8-bit image, got {got}")
    channels = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else -1)
    if channels != meta.channels:
        raise DataError(
            f"{what}: {channels}-channel image, but the anomaly model was fitted on {meta.channels}-channel "
            f"({'mono' if meta.channels == 1 else 'BGR'}) images; set the camera's pixel format to match or "
            f"refit on images like these"
        )
    if not meta.any_size and tuple(image.shape[:2]) != tuple(meta.image_shape):
        h, w = image.shape[:2]
        mh, mw = meta.image_shape
        raise DataError(
            f"{what}: {w}×{h} px, but the anomaly model was fitted on {mw}×{mh} px images; patch features "
            f"depend on scale, so crop/scale the camera image to {mw}×{mh} or refit on images of this size"
        )


def preprocess(images: list[np.ndarray] | np.ndarray, meta: AnomalyMeta) -> np.ndarray:
    """uint8 mono/BGR images (already checked) → float32 N×3×S×S network input, RGB, (x − mean)/std."""
    import cv2  # local: keeps `inspection.anomaly.model` light for tools that only read metadata

    batch = [images] if isinstance(images, np.ndarray) else images
    size = (meta.imgsz, meta.imgsz)
    out = np.empty((len(batch), 3, meta.imgsz, meta.imgsz), dtype=np.float32)
    for i, image in enumerate(batch):
        resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        if meta.gray and resized.ndim == 3:
            resized = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)
        rgb = np.repeat(resized[:, :, None], 3, axis=2) if resized.ndim == 2 else resized[:, :, ::-1]
        x = rgb.transpose(2, 0, 1).astype(np.float32)
        if meta.standardize:  # brightness and contrast of the whole part are not defects either
            out[i] = (x - x.mean()) / max(float(x.std()), 1.0)
        else:
            out[i] = (x - meta.pixel_mean) / meta.pixel_std
    return out


Window = tuple[int, int, int]  # (y0, x0, side) in image pixels


MAX_WINDOWS = 32
"""Most square windows one image is scored in (aspect "windows"): a 1:32 strip, far beyond any part."""


def windows_for(height: int, width: int, meta: AnomalyMeta) -> list[Window]:
    """The square windows an image is scored in: one (the whole image, stretched) unless the model's
    `aspect` is "windows" and the image is not square. Then windows of the short side, evenly spaced along
    the long side and overlapping by at least two unscored border bands, so every pixel is scored by some
    window away from that window's edge."""
    short, long = min(height, width), max(height, width)
    if meta.aspect != "windows" or long <= short * SQUARE_ENOUGH:
        return [(0, 0, 0)]  # side 0: the whole image, resized to the network input as it is
    band = math.ceil(meta.border_px * short / meta.imgsz)
    overlap = min(2 * band, short // 2)
    count = math.ceil((long - overlap) / (short - overlap))
    if count > MAX_WINDOWS:  # a sliver (a corrupt or partial frame): thousands of windows in one batch
        raise DataError(f"{width}×{height} px would be scored in {count} windows (at most {MAX_WINDOWS}): not "
                        "a part image; check the camera's ROI")
    starts = [round(i * (long - short) / (count - 1)) for i in range(count)]
    return [(0, start, short) if width > height else (start, 0, short) for start in starts]


def preprocess_windows(image: np.ndarray, meta: AnomalyMeta) -> tuple[np.ndarray, list[Window]]:
    """One checked image → the network inputs of its windows (K×3×S×S) and the windows."""
    windows = windows_for(image.shape[0], image.shape[1], meta)
    crops = [image if side == 0 else image[y:y + side, x:x + side] for y, x, side in windows]
    return preprocess(crops, meta), windows


def stitch(maps: np.ndarray, scores: np.ndarray, windows: list[Window], shape: tuple[int, ...],
           meta: AnomalyMeta) -> tuple[np.ndarray, float]:
    """The windows' maps (K×S×S) and scores → one map of the image's proportions (short side S) and the
    image score (the highest window score). Each map pixel comes from the windows that see it away from
    their inner edges (a window edge inside the image is padding to the network); the highest wins."""
    if len(windows) == 1 and windows[0][2] == 0:
        return maps[0], float(scores[0])
    size = meta.imgsz
    scale = size / windows[0][2]
    height, width = max(size, round(shape[0] * scale)), max(size, round(shape[1] * scale))
    out = np.full((height, width), -np.inf, np.float32)
    horizontal = width > height
    extent = width if horizontal else height
    band = meta.border_px
    for window_map, (y, x, _) in zip(maps, windows, strict=True):
        start = min(round((x if horizontal else y) * scale), extent - size)
        lo = band if start > 0 else 0  # an inner edge of the window: leave it to the neighbour
        hi = size - band if start + size < extent else size
        piece = window_map[:, lo:hi] if horizontal else window_map[lo:hi, :]
        target = out[:, start + lo:start + hi] if horizontal else out[start + lo:start + hi, :]
        np.maximum(target, piece, out=target)
    if not np.isfinite(out).all():  # cannot happen with the overlap of `windows_for`; never leave a hole
        out[~np.isfinite(out)] = float(np.min(maps))
    return out, float(np.max(scores))


def confidence(score: float | np.ndarray, meta: AnomalyMeta) -> Any:
    """Map raw scores to 0..1 so that the threshold is 0.5 and a typical good part is 0.

    conf = 0.5 + 0.5 · (score − threshold) / (threshold − median good score), clipped to 0..1 (the
    anomalib convention of a threshold-centred normalisation, with the good-score spread as unit).
    Recipes then use `min_confidence: 0.5` for "anything the model calls anomalous".
    """
    scale = max(meta.threshold - meta.score_median, 1e-6)
    return np.clip(0.5 + 0.5 * (np.asarray(score, dtype=np.float64) - meta.threshold) / scale, 0.0, 1.0)
