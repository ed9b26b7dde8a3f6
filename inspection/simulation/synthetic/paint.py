"""Synthetic painted panel patches under the line lighting of a paint inspection tunnel.

A glossy panel reflects the tunnel's light bars; every bump, dent or ripple of the paint surface bends
the reflected bars (deflectometry), which is how runs, craters, dust and orange peel become visible.
Scratches and thin coverage also change the colour. The surface is a height map plus colour and gloss,
shaded either by the light bars or, for some parts, by a diffuse dome with a low side light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from inspection.simulation.synthetic._base import PartGenerator, PlacedDefect, smooth_noise
from inspection.simulation.synthetic._draw import Maps, dome, ellipse_polygon, shade_normals

__all__ = ["PAINT_CLASSES", "PaintGenerator"]

PAINT_CLASSES: tuple[str, ...] = ("run", "crater", "inclusion", "scratch", "orange_peel", "thin_coverage")

Colour = tuple[float, float, float]
_PALETTE: tuple[Colour, ...] = (
    (0.90, 0.91, 0.90),  # white
    (0.70, 0.70, 0.68),  # silver
    (0.07, 0.07, 0.08),  # black
    (0.10, 0.10, 0.62),  # red
    (0.52, 0.24, 0.08),  # blue
    (0.42, 0.43, 0.44),  # grey
    (0.12, 0.35, 0.14),  # green
    (0.10, 0.55, 0.80),  # yellow/orange
)
_PRIMER: tuple[Colour, ...] = ((0.55, 0.56, 0.56), (0.35, 0.36, 0.37), (0.72, 0.72, 0.70))


@dataclass(frozen=True, slots=True)
class _Blob:
    """A soft region: where it lies on the canvas, its 0..1 weight there and its outline."""

    rows: slice
    cols: slice
    weight: np.ndarray
    outline: np.ndarray


@dataclass(frozen=True)
class PaintGenerator(PartGenerator):
    """Seeded generator of painted panel patches with paint defects (see ``PAINT_CLASSES``)."""

    product: str = field(default="paint", init=False)
    classes: tuple[str, ...] = field(default=PAINT_CLASSES, init=False)
    default_probability: float = field(default=0.17, init=False)

    def _render(
        self, rng: np.random.Generator, shape: tuple[int, int], wanted: Sequence[str]
    ) -> tuple[np.ndarray, list[PlacedDefect]]:
        u = self.unit
        colour = _pick_colour(rng)
        gloss = float(rng.uniform(0.55, 1.0))
        maps = Maps.blank(shape, colour, gloss)
        maps.height += float(rng.uniform(0.08, 0.25)) * u * smooth_noise(rng, shape, float(rng.uniform(4, 7)) * u)
        if rng.random() < 0.5:  # metallic flake
            flake = rng.standard_normal(shape, dtype=np.float32) * float(rng.uniform(0.02, 0.06))
            maps.albedo *= (1.0 + flake)[..., None]
        maps.albedo *= (1.0 + 0.04 * smooth_noise(rng, shape, 80 * u))[..., None]
        placed: list[PlacedDefect] = []
        for name in wanted:
            placed += _DRAWERS[name](self, rng, maps)
        image = _shade_bars(rng, maps, u) if rng.random() < 0.75 else _shade_dome(rng, maps, u)
        return image, placed

    def _centre(self, rng: np.random.Generator, shape: tuple[int, int], margin: float = 0.0) -> tuple[float, float]:
        """A point that stays in the output image whatever the camera pose."""
        half = 0.3 * min(self.size) - margin
        c = shape[0] / 2 + rng.uniform(-max(half, 1.0), max(half, 1.0), 2)
        return float(c[0]), float(c[1])

    def _blob(self, rng: np.random.Generator, maps: Maps, radius: float, stretch: float = 1.0) -> _Blob:
        cx, cy = self._centre(rng, maps.shape, 0.5 * radius)
        rows, cols, xs, ys = maps.roi(cx - 1.6 * radius, cy - 1.6 * radius, cx + 1.6 * radius, cy + 1.6 * radius)
        angle = float(rng.uniform(0, np.pi))
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = xs - cx, ys - cy
        r = np.sqrt(((dx * c + dy * s) / (radius * stretch)) ** 2 + ((-dx * s + dy * c) / radius) ** 2)
        wobble = 0.35 * smooth_noise(rng, r.shape, radius / 2.5)
        inside = ((r + wobble) < 1.0).astype(np.uint8)
        weight = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), max(radius / 8, 1.0))
        outline = _outline(inside, cols.start, rows.start)
        return _Blob(rows, cols, weight, outline)

    def _run(self, rng: np.random.Generator, maps: Maps) -> list[PlacedDefect]:
        """A sag: a thick curtain edge with drips hanging down, lower edge sharper than the top."""
        u = self.unit
        cx, cy = self._centre(rng, maps.shape, 40 * u)
        width, drop = float(rng.uniform(40, 100)) * u, float(rng.uniform(22, 60)) * u
        rows, cols, xs, ys = maps.roi(cx - width, cy - 0.5 * drop, cx + width, cy + drop + 10 * u)
        mask = np.zeros((ys.shape[0], xs.shape[1]), np.uint8)
        ox, oy = cols.start, rows.start
        cv2.ellipse(mask, (int(cx - ox), int(cy - oy)), (int(width * 0.8), int(drop * 0.3)), 0, 0, 360, 1, -1)
        for _ in range(int(rng.integers(1, 4))):
            x = cx - ox + float(rng.uniform(-0.6, 0.6)) * width
            length, r = float(rng.uniform(0.5, 1.0)) * drop, float(rng.uniform(5, 11)) * u
            tip = (int(x), int(cy - oy + length))
            cv2.line(mask, (int(x), int(cy - oy)), tip, 1, int(r * 1.4))
            cv2.circle(mask, tip, int(r), 1, -1)
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3 * u)
        lower = np.clip((ys - cy) / max(drop, 1.0), 0, 1)
        height = float(rng.uniform(2.5, 4.5)) * u * soft * (1 + 0.6 * lower)
        maps.height[rows, cols] += np.where(mask > 0, height, height * 0.6).astype(np.float32)
        maps.albedo[rows, cols] *= (1 - 0.12 * soft)[..., None]
        return [PlacedDefect("run", _outline(mask, ox, oy))]

    def _crater(self, rng: np.random.Generator, maps: Maps) -> list[PlacedDefect]:
        u = self.unit
        placed = []
        for _ in range(int(rng.integers(1, 3))):
            cx, cy = self._centre(rng, maps.shape, 12 * u)
            r = float(rng.uniform(4.5, 10)) * u
            rows, cols, xs, ys = maps.roi(cx - 2 * r, cy - 2 * r, cx + 2 * r, cy + 2 * r)
            d = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2) / r
            depth = float(rng.uniform(1.5, 3.0)) * u
            surface = -depth * np.clip(1 - d * d, 0, 1) + 0.6 * depth * np.exp(-(((d - 1.05) / 0.25) ** 2))
            maps.height[rows, cols] += surface.astype(np.float32)
            if rng.random() < 0.6:
                centre = np.clip(1 - (d / 0.5) ** 2, 0, 1)[..., None]
                maps.albedo[rows, cols] = maps.albedo[rows, cols] * (1 - 0.5 * centre) + 0.5 * centre * np.float32(0.6)
            placed.append(PlacedDefect("crater", ellipse_polygon((cx, cy), (1.35 * r, 1.35 * r), 0, 16)))
        return placed

    def _inclusion(self, rng: np.random.Generator, maps: Maps) -> list[PlacedDefect]:
        u = self.unit
        placed = []
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = self._centre(rng, maps.shape, 10 * u)
            fibre = rng.random() < 0.25
            r = float(rng.uniform(2.5, 5.5)) * u
            radii = (float(rng.uniform(7, 14)) * u, 1.6 * u) if fibre else (r, r)
            angle = float(rng.uniform(0, 180))
            speck = tuple(float(v) for v in rng.uniform(0.02, 0.25) * np.ones(3))
            base = maps.height[int(np.clip(cy, 0, maps.shape[0] - 1)), int(np.clip(cx, 0, maps.shape[1] - 1))]
            bump = (radii[0] * 1.8 + 2 * u, radii[1] * 1.8 + 2 * u)
            dome(
                maps, (cx, cy), bump, angle, base + float(rng.uniform(1.5, 3.0)) * u, _albedo_at(maps, cx, cy), 1.0, 1.5
            )
            if rng.random() < 0.75:
                core = (max(radii[0] * 0.45, 1.0), max(radii[1] * 0.45, 1.0))
                cv2.ellipse(maps.albedo, ((cx, cy), (2 * core[0], 2 * core[1]), angle), speck, -1)
            placed.append(PlacedDefect("inclusion", ellipse_polygon((cx, cy), bump, angle, 16)))
        return placed

    def _scratch(self, rng: np.random.Generator, maps: Maps) -> list[PlacedDefect]:
        u = self.unit
        cx, cy = self._centre(rng, maps.shape, 30 * u)
        length = float(rng.uniform(50, 150)) * u
        angle = float(rng.uniform(0, np.pi))
        direction = np.array([np.cos(angle), np.sin(angle)])
        bend = np.array([-direction[1], direction[0]]) * float(rng.uniform(-0.2, 0.2)) * length
        t = np.linspace(-0.5, 0.5, 24)[:, None]
        pts = np.array([cx, cy]) + t * length * direction + (1 - 4 * t * t) * bend
        width = max(1, round(float(rng.uniform(1.2, 3.0)) * u))
        mask = np.zeros(maps.shape, np.uint8)
        cv2.polylines(mask, [pts.astype(np.int32)], False, 1, width, cv2.LINE_AA)
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7 * u)
        maps.height -= float(rng.uniform(0.8, 2.0)) * u * soft
        bright = float(rng.uniform(0.25, 0.6))
        maps.albedo += (bright * soft)[..., None] * (0.9 - maps.albedo)
        rect = cv2.minAreaRect(pts.astype(np.float32))
        (rx, ry), (rw, rh), ra = rect
        box = cv2.boxPoints(((rx, ry), (rw + width + 4 * u, rh + width + 4 * u), ra))
        return [PlacedDefect("scratch", box.astype(np.float32))]

    def _orange_peel(self, rng: np.random.Generator, maps: Maps) -> list[PlacedDefect]:
        u = self.unit
        blob = self._blob(rng, maps, float(rng.uniform(35, 70)) * u, float(rng.uniform(1.0, 1.8)))
        peel = smooth_noise(rng, blob.weight.shape, float(rng.uniform(4, 7)) * u)
        maps.height[blob.rows, blob.cols] += float(rng.uniform(1.0, 1.8)) * u * peel * blob.weight
        return [PlacedDefect("orange_peel", blob.outline)]

    def _thin_coverage(self, rng: np.random.Generator, maps: Maps) -> list[PlacedDefect]:
        u = self.unit
        blob = self._blob(rng, maps, float(rng.uniform(35, 75)) * u, float(rng.uniform(1.0, 2.0)))
        mottle = np.clip(0.75 + 0.35 * smooth_noise(rng, blob.weight.shape, 6 * u), 0, 1)
        mix = (float(rng.uniform(0.4, 0.75)) * blob.weight * mottle)[..., None]
        primer = np.asarray(_PRIMER[int(rng.integers(0, len(_PRIMER)))], np.float32)
        maps.albedo[blob.rows, blob.cols] = maps.albedo[blob.rows, blob.cols] * (1 - mix) + mix * primer
        maps.shiny[blob.rows, blob.cols] *= 1 - 0.5 * mix[..., 0]
        return [PlacedDefect("thin_coverage", blob.outline)]


_DRAWERS = {
    "run": PaintGenerator._run,
    "crater": PaintGenerator._crater,
    "inclusion": PaintGenerator._inclusion,
    "scratch": PaintGenerator._scratch,
    "orange_peel": PaintGenerator._orange_peel,
    "thin_coverage": PaintGenerator._thin_coverage,
}


def _albedo_at(maps: Maps, x: float, y: float) -> Colour:
    yy = int(np.clip(y, 0, maps.shape[0] - 1))
    xx = int(np.clip(x, 0, maps.shape[1] - 1))
    b, g, r = maps.albedo[yy, xx]
    return float(b), float(g), float(r)


def _outline(mask: np.ndarray, ox: int, oy: int) -> np.ndarray:
    """Outer contour of the largest region of a 0/1 mask, offset to canvas pixels."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 2), np.float32)
    biggest = max(contours, key=cv2.contourArea)
    approx = cv2.approxPolyDP(biggest, 1.5, True).reshape(-1, 2).astype(np.float32)
    return approx + np.array([ox, oy], np.float32)


def _pick_colour(rng: np.random.Generator) -> Colour:
    if rng.random() < 0.2:
        hsv = np.array([[[rng.uniform(0, 180), rng.uniform(40, 255), rng.uniform(40, 240)]]], np.float32)
        bgr = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0] / 255.0
        return float(bgr[0]), float(bgr[1]), float(bgr[2])
    base = _PALETTE[int(rng.integers(0, len(_PALETTE)))]
    jitter = rng.uniform(0.9, 1.1, 3)
    return tuple(float(min(1.0, c * j)) for c, j in zip(base, jitter, strict=True))  # type: ignore[return-value]


def _shade_bars(rng: np.random.Generator, maps: Maps, u: float) -> np.ndarray:
    """Reflection of parallel light bars; surface slopes displace the reflected bars."""
    gx, gy, theta = shade_normals(maps.height, 0.6 * u)
    period = float(rng.uniform(45, 110)) * u
    duty = float(rng.uniform(-0.3, 0.5))
    gain = float(rng.uniform(25, 45)) * u
    ys = np.arange(maps.shape[0], dtype=np.float32)[:, None]
    phase = (ys + gain * gy + 0.3 * gain * gx) * np.float32(2 * np.pi / period) + float(rng.uniform(0, 6.3))
    bars = 0.5 + 0.5 * np.tanh(4.0 * (np.cos(phase) - duty))
    nz = np.cos(np.radians(theta))
    sheen = float(rng.uniform(0.5, 0.9))
    image = maps.albedo * (0.3 + 0.55 * nz)[..., None] + (sheen * maps.shiny * bars)[..., None] * np.float32(0.9)
    return image.astype(np.float32)


def _shade_dome(rng: np.random.Generator, maps: Maps, u: float) -> np.ndarray:
    """Diffuse dome light with a grazing side light that throws bumps and dents into relief."""
    gx, gy, _ = shade_normals(maps.height, 0.6 * u)
    angle = float(rng.uniform(0, 2 * np.pi))
    relief = np.clip(0.5 + 2.5 * (gx * np.cos(angle) + gy * np.sin(angle)), 0, 1)
    image = maps.albedo * (0.55 + 0.6 * relief)[..., None] + (0.15 * maps.shiny)[..., None]
    return image.astype(np.float32)
