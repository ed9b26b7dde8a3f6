"""Acceptance zones: regions of the part with their own size limits per defect class.

A paint or solder spec accepts a defect by where it is and how big it is: an inclusion up to 0.3 mm on a
hidden surface, nothing over 0.1 mm on a class-A one, a run longer than 5 mm nowhere. A recipe's `zones:`
say that. Zone polygons are in part coordinates (mm); `part:` says how those map onto the image — a fixtured
part (origin pixel, scale from the calibration) or, like the AOI path aligns boards, by fiducials found in
each image.

A defect the class rules count is placed in the first zone whose polygon holds its centre. There, it fails
(or goes to review, per its class's action) only when it breaks a limit: a per-defect size limit, or a
per-zone count or total area (per class, or over all classes). A defect within every limit is accepted.
A defect outside every zone, or of a class its zone sets no limits for, is judged as without zones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from inspection.config import StrictModel
from inspection.domain.types import Detection

__all__ = ["MeasureOptions", "PartAligner", "PartFiducial", "PartFrame", "Zone", "ZoneBreach", "ZoneLimits",
           "evaluate_zones", "nominal_matrix", "zone_polygons_px"]

Point = tuple[float, float]


class MeasureOptions(StrictModel):
    """How the recipe measures defects in mm."""

    calibration: Literal["required", "nominal"] = Field(
        "required", description="required: the camera's newest `station calibrate` result (refused when missing "
        "or too old); nominal: the recipe's pixel_size_mm, no distortion (synthetic images, telecentric optics)")
    max_calibration_age_days: float = Field(30.0, gt=0.0, description="refuse an older calibration")
    camera: str | None = Field(None, description="measure with this camera's calibration (default: each part's own)")


class ZoneLimits(StrictModel):
    """Largest accepted sizes (per defect) and amounts (per zone). Unset = no limit of that kind."""

    max_diameter_mm: float | None = Field(None, ge=0.0, description="equivalent diameter of one defect")
    max_length_mm: float | None = Field(None, ge=0.0, description="long side of one defect's min-area rectangle")
    max_area_mm2: float | None = Field(None, ge=0.0, description="area of one defect")
    max_count: int | None = Field(None, ge=0, description="defects in the zone")
    max_total_area_mm2: float | None = Field(None, ge=0.0, description="summed area of the defects in the zone")

    def needs_mm(self) -> bool:
        return any(v is not None for v in (self.max_diameter_mm, self.max_length_mm, self.max_area_mm2,
                                             self.max_total_area_mm2))


class Zone(StrictModel):
    name: str = Field(min_length=1)
    polygon: list[Point] = Field(description="outline in part coordinates (mm)")
    classes: dict[str, ZoneLimits] = Field(default_factory=dict, description="limits per defect class")
    default: ZoneLimits | None = Field(None, description="limits for classes not listed (unset: judged as "
                                       "without zones)")
    total: ZoneLimits | None = Field(None, description="max_count / max_total_area_mm2 over all classes")

    @model_validator(mode="after")
    def _polygon_has_area(self) -> Zone:
        if len(self.polygon) < 3:
            raise ValueError(f"zone {self.name!r}: polygon needs at least 3 points [x, y] in mm, "
                             f"got {len(self.polygon)}")
        return self

    def limits_for(self, class_name: str) -> ZoneLimits | None:
        return self.classes.get(class_name, self.default)


class PartFiducial(StrictModel):
    name: str
    x_mm: float
    y_mm: float
    diameter_mm: float = Field(gt=0.0)
    polarity: Literal["bright", "dark"] = "bright"


class PartFrame(StrictModel):
    """Part coordinates (mm) → image: the part's origin pixel when fixtured, refined per image by fiducials."""

    origin_px: Point = Field((0.0, 0.0), description="image pixel of the part's (0, 0)")
    y_up: bool = Field(False, description="part y axis points up (CAD drawings); false: down like the image")
    fiducials: list[PartFiducial] = Field(default_factory=list, description="2-3 fiducials to align each image "
                                          "by (as the AOI path aligns boards); empty: fixtured part")
    search_radius_mm: float = Field(2.0, gt=0.0)
    min_score: float = Field(0.6, gt=0.0, le=1.0)


PartAligner = Callable[[np.ndarray, "PartFrame", np.ndarray], np.ndarray]
"""(image, part frame, nominal 2×3 mm→px matrix) → the 2×3 matrix found from the part's fiducials in the image.
The AOI path's fiducial finder (`inspection.aoi.part_align.align_part`), given by whoever builds the judge:
the domain does not import the detector packages."""


def nominal_matrix(frame: PartFrame, mm_per_px: float) -> np.ndarray:
    """mm → px affine (2×3) of a fixtured part: its origin at `origin_px`, no rotation, y flipped when y_up."""
    s = 1.0 / mm_per_px
    return np.array([[s, 0.0, frame.origin_px[0]], [0.0, -s if frame.y_up else s, frame.origin_px[1]]], np.float64)


def zone_polygons_px(zones: Sequence[Zone], frame: PartFrame, mm_per_px: float,
                     image: np.ndarray | None, align: PartAligner | None = None) -> list[np.ndarray]:
    """Each zone's polygon in (undistorted) image pixels for one part."""
    matrix = nominal_matrix(frame, mm_per_px)
    if frame.fiducials:
        if image is None:
            raise ValueError("zones aligned by fiducials need the part's image")
        if align is None:
            raise ValueError("zones aligned by fiducials need a fiducial aligner (inspection.aoi.part_align)")
        matrix = align(image, frame, matrix)
    return [(np.asarray(z.polygon, np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32) for z in zones]


@dataclass(frozen=True, slots=True)
class ZoneBreach:
    """One broken rule of one zone, and the defects that broke it (all of them for a count or total area)."""

    zone: str
    rule: str
    detections: tuple[Detection, ...]
    message: str


_SIZE_RULES = (("max_diameter_mm", "diameter_mm", "mm"), ("max_length_mm", "length_mm", "mm"),
               ("max_area_mm2", "area_mm2", "mm²"))


def evaluate_zones(zones: Sequence[Zone], polygons_px: Sequence[np.ndarray], detections: Sequence[Detection],
                   centre_px: Any) -> tuple[list[Detection], list[ZoneBreach], dict[int, str]]:
    """Split counted detections into (judged without zones, breaches, zone of each detection by id()).

    `centre_px(detection)` gives the point that places a detection (undistorted pixels)."""
    unzoned: list[Detection] = []
    breaches: list[ZoneBreach] = []
    placed: dict[int, str] = {}
    members: dict[int, list[Detection]] = {}
    for d in detections:
        centre = tuple(float(c) for c in centre_px(d))
        index = next((i for i, p in enumerate(polygons_px) if cv2.pointPolygonTest(p, centre, False) >= 0), None)
        if index is None or zones[index].limits_for(d.class_name) is None:
            unzoned.append(d)
            if index is not None:
                placed[id(d)] = zones[index].name
            continue
        placed[id(d)] = zones[index].name
        members.setdefault(index, []).append(d)
    for index, found in members.items():
        zone = zones[index]
        by_class: dict[str, list[Detection]] = {}
        for d in found:
            by_class.setdefault(d.class_name, []).append(d)
        for class_name, ds in by_class.items():
            limits = zone.limits_for(class_name)
            assert limits is not None
            breaches += _size_breaches(zone.name, limits, ds)
            breaches += _amount_breaches(zone.name, limits, ds, class_name)
        if zone.total is not None:
            breaches += _amount_breaches(zone.name, zone.total, found, "all classes")
    return unzoned, breaches, placed


def _size_breaches(zone: str, limits: ZoneLimits, ds: list[Detection]) -> list[ZoneBreach]:
    out = []
    for d in ds:
        for rule, attr, unit in _SIZE_RULES:
            limit = getattr(limits, rule)
            if limit is None:
                continue
            if d.measures is None:
                raise ValueError(f"zone {zone}: {rule} needs measured defects (measure: in the recipe)")
            value = getattr(d.measures, attr)
            if value > limit:
                out.append(ZoneBreach(zone, rule, (d,), f"zone {zone}: {d.class_name} {value:.2f} {unit} > "
                                                     f"{rule} {limit:g}"))
                break  # one reason per defect is enough
    return out


def _amount_breaches(zone: str, limits: ZoneLimits, ds: list[Detection], what: str) -> list[ZoneBreach]:
    out = []
    if limits.max_count is not None and len(ds) > limits.max_count:
        out.append(ZoneBreach(zone, "max_count", tuple(ds), f"zone {zone}: {what} ×{len(ds)} > max_count "
                                                         f"{limits.max_count}"))
    if limits.max_total_area_mm2 is not None:
        total = sum(d.measures.area_mm2 for d in ds if d.measures is not None)
        if total > limits.max_total_area_mm2:
            out.append(ZoneBreach(zone, "max_total_area_mm2", tuple(ds),
                                  f"zone {zone}: {what} total {total:.2f} mm² > max_total_area_mm2 "
                                  f"{limits.max_total_area_mm2:g}"))
    return out
