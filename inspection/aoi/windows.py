"""Inspection windows: each placement's body and pads, rotated and mapped from board mm to image pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspection.aoi.align import BoardTransform
from inspection.aoi.library import Package
from inspection.aoi.placement import Placement
from inspection.domain.types import Box

__all__ = ["Window", "component_windows", "crop", "rect_corners"]


@dataclass(frozen=True)
class Window:
    """One region to judge. `pin` is None for the body window. `polygon` is the exact rotated rectangle in
    image pixels; `box` its axis-aligned bounds (grown by the pad's margin for joints)."""

    refdes: str
    pin: str | None
    kind: str  # "body" | "pad"
    polygon: np.ndarray  # 4×2 float px
    box: Box
    centre_px: tuple[float, float]
    size_px: tuple[float, float]  # width, height along the component's own axes
    angle_deg: float  # the component's x axis in the image, degrees (image y down)
    placement: Placement
    package: Package


def rect_corners(cx: float, cy: float, w: float, h: float, rotation_deg: float) -> np.ndarray:
    """Corners (board mm, y up) of a w×h rectangle centred at (cx, cy), rotated CCW by rotation_deg."""
    half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], np.float64) / 2.0
    a = np.radians(rotation_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return half @ rot.T + np.array([cx, cy])


def _local_to_board(placement: Placement, x: float, y: float) -> tuple[float, float]:
    a = np.radians(placement.rotation_deg)
    if placement.side == "bottom":  # seen through the board: mirrored in x
        x = -x
    return (placement.x_mm + x * np.cos(a) - y * np.sin(a), placement.y_mm + x * np.sin(a) + y * np.cos(a))


def _window(placement: Placement, package: Package, transform: BoardTransform, pin: str | None, kind: str,
            x: float, y: float, w: float, h: float, margin: float) -> Window:
    cx, cy = _local_to_board(placement, x, y)
    corners_mm = rect_corners(cx, cy, w, h, placement.rotation_deg)
    polygon = transform.apply(corners_mm)
    grown = transform.apply(rect_corners(cx, cy, w * (1 + 2 * margin), h * (1 + 2 * margin),
                                         placement.rotation_deg))
    lo, hi = grown.min(axis=0), grown.max(axis=0)
    centre = transform.apply(np.array([cx, cy]))[0]
    axis = transform.apply(np.array([[0.0, 0.0], [np.cos(np.radians(placement.rotation_deg)),
                                                  np.sin(np.radians(placement.rotation_deg))]]))
    angle = float(np.degrees(np.arctan2(axis[1, 1] - axis[0, 1], axis[1, 0] - axis[0, 0])))
    scale = transform.scale_px_per_mm
    return Window(placement.refdes, pin, kind, polygon, Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])),
                  (float(centre[0]), float(centre[1])), (w * scale, h * scale), angle, placement, package)


def component_windows(placement: Placement, package: Package, transform: BoardTransform) -> list[Window]:
    """The body window (if the package has a body) and one window per pad."""
    out = []
    if package.body is not None:
        b = package.body
        out.append(_window(placement, package, transform, None, "body", b.x, b.y, b.width, b.height, 0.0))
    for pad in package.pads:
        out.append(_window(placement, package, transform, pad.pin, "pad", pad.x, pad.y, pad.width, pad.height,
                           pad.margin))
    return out


def crop(image: np.ndarray, box: Box) -> np.ndarray | None:
    """Pixels inside `box` (clipped to the image); None when nothing of it is inside."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(np.floor(box.x1))), max(0, int(np.floor(box.y1)))
    x2, y2 = min(w, int(np.ceil(box.x2))), min(h, int(np.ceil(box.y2)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return image[y1:y2, x1:x2]
