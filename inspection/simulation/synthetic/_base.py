"""Shared machinery of the synthetic part generators: value types, seeding, geometry and camera effects.

A generator renders a part on a canvas larger than the output (so rotation and scale never show a border),
then applies a random similarity transform, crops, and adds the camera's photometric effects. Defect
labels are polygons in canvas pixels that travel through the same transform and are clipped to the image.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import cv2
import numpy as np

__all__ = [
    "PIXEL_FORMATS",
    "Defect",
    "PartGenerator",
    "PixelFormat",
    "PlacedDefect",
    "SyntheticPart",
    "clip_polygon",
    "smooth_noise",
]

PixelFormat = Literal["bgr8", "mono8"]
PIXEL_FORMATS: tuple[str, ...] = ("bgr8", "mono8")
_MIN_VISIBLE_AREA_PX = 12.0


class Defect(NamedTuple):
    """One labelled defect of a rendered part, in output-image pixels."""

    class_id: int
    class_name: str
    polygon: np.ndarray  # (N, 2) float32, x/y pixels, inside the image
    box: tuple[float, float, float, float]  # x1, y1, x2, y2


@dataclass(frozen=True, slots=True)
class SyntheticPart:
    """A rendered part: the image as a camera would deliver it, and its ground-truth defects."""

    image: np.ndarray
    defects: tuple[Defect, ...]
    index: int
    seed: int
    product: str
    pixel_format: str

    @property
    def is_good(self) -> bool:
        return not self.defects

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(d.class_name for d in self.defects)


@dataclass(slots=True)
class PlacedDefect:
    """A defect while the part is still being drawn: class name and polygon in canvas pixels."""

    class_name: str
    polygon: np.ndarray


@dataclass(frozen=True, slots=True)
class _View:
    """The random camera pose and photometry of one part."""

    angle_deg: float
    scale: float
    shift: tuple[float, float]
    blur_sigma: float
    noise_sigma: float
    gain: float
    gamma: float
    tint: tuple[float, float, float]
    vignette: float
    gradient: tuple[float, float]


@dataclass(frozen=True)
class PartGenerator:
    """Base of the seeded, deterministic synthetic part generators.

    ``part(index, defect_probabilities)`` depends only on the generator's parameters, the index and the
    probabilities, so a data set is reproducible from its ``data_version``.
    """

    seed: int = 0
    size: tuple[int, int] = (320, 320)
    pixel_format: PixelFormat = "bgr8"
    product: str = field(default="", init=False)
    classes: tuple[str, ...] = field(default=(), init=False)
    default_probability: float = field(default=0.15, init=False)
    canvas_factor: float = field(default=1.45, init=False)

    def __post_init__(self) -> None:
        if self.pixel_format not in PIXEL_FORMATS:
            raise ValueError(f"pixel_format: expected one of {PIXEL_FORMATS}, got {self.pixel_format!r}")
        h, w = self.size
        if not (32 <= h <= 4096 and 32 <= w <= 4096):
            raise ValueError(f"size: expected (height, width) between 32 and 4096 px, got {self.size!r}")

    # -- public API ---------------------------------------------------------------------------------

    @property
    def data_version(self) -> str:
        """Short hash of everything that determines the generated images."""
        params = {
            "product": self.product,
            "generator": type(self).__name__,
            "revision": self.revision,
            "seed": self.seed,
            "size": list(self.size),
            "pixel_format": self.pixel_format,
            "classes": list(self.classes),
        }
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def revision(self) -> int:
        """Bumped whenever rendering changes, so data versions of old and new images differ."""
        return 1

    def default_probabilities(self) -> dict[str, float]:
        return dict.fromkeys(self.classes, self.default_probability)

    def part(self, index: int, defect_probabilities: Mapping[str, float] | None = None) -> SyntheticPart:
        """Render part ``index``; each class appears with its probability (independently)."""
        probs = self._checked_probabilities(defect_probabilities)
        rng = np.random.default_rng([self.seed, int(index), _probability_key(probs)])
        wanted = [name for name in self.classes if rng.random() < probs[name]]
        canvas_shape = self._canvas_shape()
        image, placed = self._render(rng, canvas_shape, wanted)
        view = _random_view(rng, self.product)
        image, defects = self._camera(rng, image, placed, view)
        return SyntheticPart(image, defects, int(index), self.seed, self.product, self.pixel_format)

    # -- for subclasses -----------------------------------------------------------------------------

    def _render(
        self, rng: np.random.Generator, shape: tuple[int, int], wanted: Sequence[str]
    ) -> tuple[np.ndarray, list[PlacedDefect]]:
        """Draw the part on a canvas: float32 BGR image in 0..1 and defects in canvas pixels."""
        raise NotImplementedError

    @property
    def unit(self) -> float:
        """Pixels per design unit: the drawings are designed for a 320 px output."""
        return min(self.size) / 320.0

    # -- internals ----------------------------------------------------------------------------------

    def _checked_probabilities(self, given: Mapping[str, float] | None) -> dict[str, float]:
        probs = self.default_probabilities()
        if given is None:
            return probs
        unknown = sorted(set(given) - set(self.classes))
        if unknown:
            raise ValueError(f"defect_probabilities: unknown classes {unknown}; expected some of {self.classes}")
        for name, value in given.items():
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"defect_probabilities[{name!r}]: expected 0..1, got {value!r}")
            probs[name] = float(value)
        return probs

    def _canvas_shape(self) -> tuple[int, int]:
        h, w = self.size
        side = math.ceil(max(h, w) * self.canvas_factor)
        return side, side

    def _camera(
        self, rng: np.random.Generator, canvas: np.ndarray, placed: list[PlacedDefect], view: _View
    ) -> tuple[np.ndarray, tuple[Defect, ...]]:
        matrix = self._view_matrix(canvas.shape[:2], view)
        h, w = self.size
        image = cv2.warpAffine(canvas, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        image = _photometry(rng, image, view)
        defects = self._project_defects(placed, matrix)
        return self._to_pixel_format(image), defects

    def _view_matrix(self, canvas_hw: tuple[int, int], view: _View) -> np.ndarray:
        ch, cw = canvas_hw
        h, w = self.size
        matrix = cv2.getRotationMatrix2D((cw / 2.0, ch / 2.0), view.angle_deg, view.scale)
        matrix[0, 2] += w / 2.0 - cw / 2.0 + view.shift[0] * w
        matrix[1, 2] += h / 2.0 - ch / 2.0 + view.shift[1] * h
        return matrix

    def _project_defects(self, placed: list[PlacedDefect], matrix: np.ndarray) -> tuple[Defect, ...]:
        h, w = self.size
        out: list[Defect] = []
        for item in placed:
            pts = np.asarray(item.polygon, dtype=np.float64).reshape(-1, 2)
            pts = pts @ matrix[:, :2].T + matrix[:, 2]
            clipped = clip_polygon(pts, w, h)
            if len(clipped) < 3 or abs(cv2.contourArea(clipped.astype(np.float32))) < _MIN_VISIBLE_AREA_PX:
                continue
            x1, y1 = clipped.min(axis=0)
            x2, y2 = clipped.max(axis=0)
            class_id = self.classes.index(item.class_name)
            box = (float(x1), float(y1), float(x2), float(y2))
            out.append(Defect(class_id, item.class_name, clipped.astype(np.float32), box))
        return tuple(out)

    def _to_pixel_format(self, image: np.ndarray) -> np.ndarray:
        img8 = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if self.pixel_format == "mono8":
            return cv2.cvtColor(img8, cv2.COLOR_BGR2GRAY)
        return img8


def _probability_key(probs: Mapping[str, float]) -> int:
    text = json.dumps({k: round(v, 9) for k, v in sorted(probs.items())})
    return zlib.crc32(text.encode())


def _random_view(rng: np.random.Generator, product: str) -> _View:
    quarter = 90.0 * int(rng.integers(0, 4))
    jitter = float(rng.uniform(-10, 10)) if product == "solder" else float(rng.uniform(-45, 45))
    return _View(
        angle_deg=quarter + jitter,
        scale=float(rng.uniform(0.85, 1.2)),
        shift=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.05, 0.05))),
        blur_sigma=float(rng.choice([0.0, rng.uniform(0.3, 1.3)], p=[0.4, 0.6])),
        noise_sigma=float(rng.uniform(0.004, 0.03)),
        gain=float(rng.uniform(0.75, 1.25)),
        gamma=float(rng.uniform(0.8, 1.25)),
        tint=tuple(float(v) for v in rng.uniform(0.88, 1.12, size=3)),  # type: ignore[arg-type]
        vignette=float(rng.uniform(0.0, 0.35)),
        gradient=(float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.15, 0.15))),
    )


def _photometry(rng: np.random.Generator, image: np.ndarray, view: _View) -> np.ndarray:
    h, w = image.shape[:2]
    if view.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), view.blur_sigma)
    ys = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    light = 1.0 - view.vignette * 0.5 * (xs * xs + ys * ys) + view.gradient[0] * xs + view.gradient[1] * ys
    image = image * (light * view.gain)[..., None] * np.asarray(view.tint, dtype=np.float32)
    image = np.power(np.clip(image, 0.0, 1.0), view.gamma)
    noise = rng.standard_normal(image.shape, dtype=np.float32) * view.noise_sigma
    return np.clip(image + noise, 0.0, 1.0)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise with features of about ``scale_px`` pixels (float32)."""
    h, w = shape
    gh = max(2, math.ceil(h / max(scale_px, 1.0)) + 1)
    gw = max(2, math.ceil(w / max(scale_px, 1.0)) + 1)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def clip_polygon(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon to the image rectangle [0, width] x [0, height]."""
    pts = [tuple(p) for p in np.asarray(points, dtype=np.float64).reshape(-1, 2)]
    edges = ((0, 0.0, 1), (0, float(width), -1), (1, 0.0, 1), (1, float(height), -1))
    for axis, bound, sign in edges:
        pts = _clip_edge(pts, axis, bound, sign)
        if not pts:
            break
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def _clip_edge(pts: list[tuple[float, float]], axis: int, bound: float, sign: int) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    n = len(pts)
    for i in range(n):
        cur, prev = pts[i], pts[i - 1]
        cur_in = sign * (cur[axis] - bound) >= 0
        prev_in = sign * (prev[axis] - bound) >= 0
        if cur_in != prev_in:
            t = (bound - prev[axis]) / (cur[axis] - prev[axis])
            out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
        if cur_in:
            out.append(cur)
    return out
