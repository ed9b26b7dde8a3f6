"""Defect sizes in millimetres: a detection's outline (mask, else box) undistorted and mapped onto the part plane.

A `Scale` is what turns pixels into millimetres for one camera: a camera calibration (distortion and the
part plane's homography, see `inspection.domain.calibration`), or a nominal scale (`pixel_size_mm` of a recipe, no
distortion) for synthetic images and telecentric optics. `scales_for` picks the scales a recipe measures
with and refuses, with an error that says what to do, a calibration that is missing or too old.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from inspection.domain.calibration import Calibration, CalibrationError, calibration_files, latest_calibration
from inspection.domain.types import Detection, Measures

__all__ = ["Scale", "calibration_status", "measure", "measure_all", "polygon_measures", "scales_for", "zone_outlines"]


@dataclass(frozen=True)
class Scale:
    """Pixels → millimetres on the part plane for one camera."""

    mm_per_px: float
    calibration: Calibration | None = None

    @classmethod
    def nominal(cls, mm_per_px: float) -> Scale:
        if not (mm_per_px > 0 and math.isfinite(mm_per_px)):
            raise ValueError(f"Scale.mm_per_px: expected > 0, got {mm_per_px}")
        return cls(mm_per_px)

    @classmethod
    def calibrated(cls, calibration: Calibration) -> Scale:
        return cls(calibration.mm_per_px, calibration)

    def to_mm(self, points_px: np.ndarray) -> np.ndarray:
        pts = np.asarray(points_px, np.float64).reshape(-1, 2)
        if self.calibration is None:
            return pts * self.mm_per_px
        return self.calibration.to_plane_mm(pts)

    def undistort(self, points_px: np.ndarray) -> np.ndarray:
        pts = np.asarray(points_px, np.float64).reshape(-1, 2)
        return pts if self.calibration is None else self.calibration.undistort(pts)

    @property
    def label(self) -> str:
        if self.calibration is None:
            return f"nominal {self.mm_per_px:g} mm/px"
        return f"calibration {self.calibration.created} ({self.mm_per_px:.5f} mm/px)"


def polygon_measures(points_mm: np.ndarray, from_mask: bool) -> Measures:
    """Area (shoelace), equivalent diameter and minimum-area rectangle of an outline given in mm."""
    pts = np.asarray(points_mm, np.float64).reshape(-1, 2)
    xs, ys = pts[:, 0], pts[:, 1]
    area = float(abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))) / 2.0)
    (_, _), (w, h), _ = cv2.minAreaRect(pts.astype(np.float32))
    return Measures(area, 2.0 * math.sqrt(area / math.pi), float(max(w, h)), float(min(w, h)), from_mask)


def measure(detection: Detection, scale: Scale) -> Measures:
    """The detection's size from its mask outline when it has one, else from its box's corners."""
    if detection.polygon is not None:
        return polygon_measures(scale.to_mm(np.asarray(detection.polygon)), from_mask=True)
    b = detection.box
    corners = np.array([[b.x1, b.y1], [b.x2, b.y1], [b.x2, b.y2], [b.x1, b.y2]], np.float64)
    return polygon_measures(scale.to_mm(corners), from_mask=False)


def measure_all(detections: Iterable[Detection], scale: Scale) -> tuple[Detection, ...]:
    return tuple(replace(d, measures=measure(d, scale)) for d in detections)


def scales_for(recipe: object, camera_ids: Iterable[str], calibration_dir: Path | None,
               now: datetime | None = None) -> Mapping[str, Scale]:
    """The scale of each camera a recipe measures with, or {} when it does not measure.

    `measure.calibration: required` loads each camera's newest calibration and refuses a missing one or one
    older than `measure.max_calibration_age_days`; `nominal` uses the recipe's `pixel_size_mm`."""
    options = getattr(recipe, "measure", None)
    if options is None:
        return {}
    where = getattr(recipe, "source_file", None) or getattr(recipe, "name", "recipe")
    cameras = [options.camera] if options.camera else list(camera_ids)
    if options.calibration == "nominal":
        return dict.fromkeys(cameras, Scale.nominal(recipe.pixel_size_mm))  # type: ignore[attr-defined]
    if calibration_dir is None:
        raise CalibrationError(f"{where}: measures in mm with a camera calibration, but no calibration folder "
                               f"is configured; set calibration_dir in the station YAML")
    scales: dict[str, Scale] = {}
    for camera in cameras:
        hint = f"run `station calibrate --config <station.yaml> --camera {camera} ...`"
        found = latest_calibration(calibration_dir, camera)
        if found is None:
            raise CalibrationError(f"{where}: measures in mm but camera {camera!r} has no calibration in "
                                   f"{Path(calibration_dir) / camera}; {hint}")
        age = found.age_days(now or datetime.now(UTC))
        if age > options.max_calibration_age_days:
            raise CalibrationError(
                f"{where}: the calibration of camera {camera!r} ({found.path}, {found.created}) is {age:.1f} days "
                f"old, older than measure.max_calibration_age_days {options.max_calibration_age_days:g}; {hint} "
                f"({len(calibration_files(calibration_dir, camera))} calibration(s) on file)")
        scales[camera] = Scale.calibrated(found)
    return scales


def calibration_status(calibration_dir: Path | None, camera_ids: Iterable[str]) -> list[tuple[str, Calibration | None]]:
    """Each camera's newest calibration (None when it has none), for display; unreadable files count as none."""
    out: list[tuple[str, Calibration | None]] = []
    for camera in camera_ids:
        try:
            found = latest_calibration(calibration_dir, camera) if calibration_dir is not None else None
        except CalibrationError:
            found = None
        out.append((camera, found))
    return out


def zone_outlines(recipe: object, camera_id: str, calibration_dir: Path | None) -> list[tuple[str, np.ndarray]]:
    """The recipe's zones in image pixels at their nominal place (fixtured part, before any fiducial alignment),
    for display. [] when the recipe has no zones or no scale can be had."""
    from inspection.domain.zones import zone_polygons_px

    zones = getattr(recipe, "zones", None)
    if not zones:
        return []
    try:
        scale = scales_for(recipe, [camera_id], calibration_dir).get(camera_id)
    except CalibrationError:
        return []
    if scale is None:
        return []
    polygons = zone_polygons_px(zones, recipe.part.model_copy(update={"fiducials": []}),  # type: ignore[attr-defined]
                                scale.mm_per_px, None)
    return [(z.name, p) for z, p in zip(zones, polygons, strict=True)]
