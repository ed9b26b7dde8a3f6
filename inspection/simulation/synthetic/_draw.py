"""Height-map drawing primitives shared by the generators (vectorised over a region of interest)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Maps", "dome", "ellipse_polygon", "rect_polygon", "shade_normals"]


@dataclass(slots=True)
class Maps:
    """What a scene is drawn into: surface height (px), colour (BGR 0..1) and shininess (0..1)."""

    height: np.ndarray
    albedo: np.ndarray
    shiny: np.ndarray

    @classmethod
    def blank(cls, shape: tuple[int, int], colour: tuple[float, float, float], shiny: float) -> Maps:
        h, w = shape
        albedo = np.empty((h, w, 3), np.float32)
        albedo[:] = colour
        return cls(np.zeros((h, w), np.float32), albedo, np.full((h, w), shiny, np.float32))

    @property
    def shape(self) -> tuple[int, int]:
        return self.height.shape  # type: ignore[return-value]

    def fill(self, polygon: np.ndarray, height: float | None, colour: tuple[float, float, float], shiny: float) -> None:
        """Fill a flat polygon: set colour and shininess; raise the surface to ``height`` if given."""
        pts = [np.round(np.asarray(polygon)).astype(np.int32).reshape(-1, 1, 2)]
        cv2.fillPoly(self.albedo, pts, colour, lineType=cv2.LINE_AA)
        cv2.fillPoly(self.shiny, pts, float(shiny))
        if height is not None:
            cv2.fillPoly(self.height, pts, float(height))

    def roi(self, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice, np.ndarray, np.ndarray]:
        """Clipped integer ROI and pixel-centre coordinate grids for it."""
        h, w = self.shape
        ix0, iy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        ix1, iy1 = min(w, int(np.ceil(x1)) + 1), min(h, int(np.ceil(y1)) + 1)
        ys = np.arange(iy0, max(iy0, iy1), dtype=np.float32)[:, None]
        xs = np.arange(ix0, max(ix0, ix1), dtype=np.float32)[None, :]
        return slice(iy0, max(iy0, iy1)), slice(ix0, max(ix0, ix1)), xs, ys

    def raise_to(
        self,
        sl: tuple[slice, slice],
        surface: np.ndarray,
        colour: tuple[float, float, float],
        shiny: float,
    ) -> None:
        """Where ``surface`` (>0) is above the current height, take it with the given material."""
        ys, xs = sl
        current = self.height[ys, xs]
        take = (surface > 0.05) & (surface >= current - 0.05)
        current[take] = surface[take]
        self.albedo[ys, xs][take] = colour
        self.shiny[ys, xs][take] = shiny


def dome(
    maps: Maps,
    centre: tuple[float, float],
    radii: tuple[float, float],
    angle_deg: float,
    peak: float,
    colour: tuple[float, float, float],
    shiny: float,
    power: float = 0.5,
) -> None:
    """An elliptical cap (solder blob, ball, paint bump): height = peak * (1 - r^2) ** power."""
    cx, cy = centre
    rx, ry = max(radii[0], 0.5), max(radii[1], 0.5)
    reach = max(rx, ry) + 1
    ys_sl, xs_sl, xs, ys = maps.roi(cx - reach, cy - reach, cx + reach, cy + reach)
    if xs.size == 0 or ys.size == 0:
        return
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    dx, dy = xs - cx, ys - cy
    u = (dx * c + dy * s) / rx
    v = (-dx * s + dy * c) / ry
    r2 = u * u + v * v
    surface = peak * np.power(np.clip(1.0 - r2, 0.0, 1.0), power)
    maps.raise_to((ys_sl, xs_sl), surface.astype(np.float32), colour, shiny)


def ellipse_polygon(
    centre: tuple[float, float], radii: tuple[float, float], angle_deg: float, n: int = 24
) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    u, v = radii[0] * np.cos(t), radii[1] * np.sin(t)
    return np.stack([centre[0] + u * c - v * s, centre[1] + u * s + v * c], axis=1).astype(np.float32)


def rect_polygon(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def shade_normals(height: np.ndarray, smooth_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surface gradient (gx, gy) and slope angle in degrees of a height map."""
    hs = cv2.GaussianBlur(height, (0, 0), max(smooth_px, 0.3)) if smooth_px > 0 else height
    gx = cv2.Sobel(hs, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(hs, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    theta = np.degrees(np.arctan(np.sqrt(gx * gx + gy * gy)))
    return gx, gy, theta
