"""Render a simple board image from a placement list and a package library (golden and with defects).

Used by the shipped golden-board demo (`inspection/aoi/examples/`) and by tests: a known board whose
components can be removed, shifted, rotated or bridged, lit differently and moved in the fixture, so each
check has a ground truth. It draws green solder mask, copper pads with solder, dark or tan bodies and
bright fiducial dots on a darker clearance ring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from inspection.aoi.align import BoardTransform
from inspection.aoi.library import PackageLibrary
from inspection.aoi.placement import Placement, PlacementList
from inspection.aoi.windows import rect_corners

__all__ = ["BODY_COLOURS", "BoardDefect", "render_board"]

MASK = (40, 95, 30)  # BGR solder mask, grey ≈ 68
COPPER = (185, 195, 200)  # tinned pad, grey ≈ 193
CLEARANCE = (25, 40, 20)
BODY_COLOURS = {"dark": (28, 28, 30), "bright": (95, 145, 185)}  # grey ≈ 28 / ≈ 150


@dataclass(frozen=True)
class BoardDefect:
    """`kind`: missing | offset | rotated | bridge. `dx_mm/dy_mm/angle_deg` for offset/rotated."""

    kind: str
    dx_mm: float = 0.0
    dy_mm: float = 0.0
    angle_deg: float = 0.0


def _poly(transform: BoardTransform, corners_mm: np.ndarray) -> np.ndarray:
    return np.round(transform.apply(corners_mm) * 16).astype(np.int32)  # 4 bits of sub-pixel precision


def _local(p: Placement, x: float, y: float, angle: float) -> tuple[float, float]:
    if p.side == "bottom":  # footprints on the bottom are mirrored (as windows.py assumes)
        x = -x
    a = np.radians(angle)
    return p.x_mm + x * np.cos(a) - y * np.sin(a), p.y_mm + x * np.sin(a) + y * np.cos(a)


def render_board(placements: PlacementList, library: PackageLibrary, transform: BoardTransform,
                 size_px: tuple[int, int], defects: Mapping[str, BoardDefect] | None = None,
                 gain: float = 1.0, offset: float = 0.0, noise: float = 2.0, seed: int = 0,
                 side: str = "top") -> np.ndarray:
    """BGR image (width, height = size_px) of one side of the board as the camera sees it (for the bottom,
    pass a mirrored `transform`, e.g. `BoardTransform.nominal(..., mirror_x=True)`)."""
    defects = defects or {}
    w, h = size_px
    image = np.full((h, w, 3), MASK, np.uint8)
    draw = {"lineType": cv2.LINE_AA, "shift": 4}
    scale = transform.scale_px_per_mm
    for placement in placements.on_side(side):
        found = library.find(placement.package)
        if found is None:
            continue
        package = found[1]
        if package.fiducial is not None:
            centre = transform.apply(np.array([placement.x_mm, placement.y_mm]))[0]
            c = (round(centre[0] * 16), round(centre[1] * 16))
            r = package.fiducial.diameter * scale / 2
            cv2.circle(image, c, int(r * 2.0 * 16), CLEARANCE, -1, **draw)
            cv2.circle(image, c, int(r * 16), COPPER, -1, **draw)
            continue
        defect = defects.get(placement.refdes)
        # Pads (copper + solder fillet) stay where the CAD says; the part moves with its defect.
        for pad in package.pads:
            cx, cy = _local(placement, pad.x, pad.y, placement.rotation_deg)
            cv2.fillPoly(image, [_poly(transform, rect_corners(cx, cy, pad.width, pad.height,
                                                               placement.rotation_deg))], COPPER, **draw)
        if defect is not None and defect.kind == "bridge" and len(package.pads) >= 2:
            # Solder between the first two pads, on their outer half (visible beside the body).
            a, b = package.pads[0], package.pads[1]
            ax, ay = _local(placement, a.x, a.y - a.height / 4, placement.rotation_deg)
            bx, by = _local(placement, b.x, b.y - b.height / 4, placement.rotation_deg)
            length = float(np.hypot(bx - ax, by - ay))
            cv2.fillPoly(image, [_poly(transform, rect_corners((ax + bx) / 2, (ay + by) / 2, length,
                                                               min(a.height, b.height) * 0.4,
                                                               placement.rotation_deg))], COPPER, **draw)
        if package.body is None or (defect is not None and defect.kind == "missing"):
            continue
        angle = placement.rotation_deg + (defect.angle_deg if defect is not None else 0.0)
        dx, dy = (defect.dx_mm, defect.dy_mm) if defect is not None else (0.0, 0.0)
        bx, by = _local(placement, package.body.x, package.body.y, placement.rotation_deg)
        colour = BODY_COLOURS["dark" if (package.body.gray or (0, 0))[1] < 100 and
                              package.body.polarity == "dark" else "bright"]
        cv2.fillPoly(image, [_poly(transform, rect_corners(bx + dx, by + dy, package.body.width,
                                                           package.body.height, angle))], colour, **draw)
    image = cv2.GaussianBlur(image, (0, 0), 0.7)
    rng = np.random.default_rng(seed)
    out = image.astype(np.float32) * gain + offset + rng.normal(0.0, noise, image.shape)
    return np.clip(out, 0, 255).astype(np.uint8)
