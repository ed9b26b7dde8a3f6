"""Recipe judge: detections in, verdict out. Pure and fast; no I/O.

When the recipe measures (`measure:`), every detection is measured in mm first (`inspection.domain.measure`) and
the measured detections travel on in the `Judgement`; acceptance zones (`inspection.domain.zones`) then decide
which counted defects the part can live with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from inspection.domain.calibration import CalibrationError
from inspection.domain.measure import Scale, measure_all
from inspection.domain.recipe import ClassRule, Recipe
from inspection.domain.types import Detection, Frame, FrameFailure, Reason, Verdict, VerdictStatus
from inspection.domain.zones import PartAligner, ZoneBreach, evaluate_zones, zone_polygons_px
from inspection.errors import ConfigError

__all__ = ["Judge", "Judgement"]


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    defects: tuple[Detection, ...]
    detections: tuple[Detection, ...] = field(default=())  # all of them, measured when the recipe measures


class Judge:
    """Applies one recipe. Build once per recipe; `judge()` is called per part.

    `scales` (camera id → `Scale`, from `inspection.domain.measure.scales_for`) is required when the recipe
    measures: a recipe in mm never runs on guessed sizes. `align` finds the part frame from its fiducials
    (`inspection.aoi.part_align.align_part`), required when the recipe's zones are aligned by fiducials."""

    def __init__(self, recipe: Recipe, scales: Mapping[str, Scale] | None = None,
                 align: PartAligner | None = None) -> None:
        self.recipe = recipe
        self.scales = dict(scales or {})
        self.align = align
        self._include = [np.asarray(p, dtype=np.float32) for p in recipe.roi.include]
        self._exclude = [np.asarray(p, dtype=np.float32) for p in recipe.roi.exclude]
        if recipe.measure is not None and not self.scales:
            raise CalibrationError(f"{recipe.source_file or recipe.name}: measures in mm but the judge was given "
                                   f"no calibration; run `station calibrate` for the station's cameras")
        if recipe.zones and recipe.part.fiducials and align is None:
            raise ConfigError(f"{recipe.source_file or recipe.name}: zones are aligned by fiducials but the judge "
                              f"was given no fiducial aligner")

    def scale_for(self, camera_id: str | None) -> Scale | None:
        if not self.scales:
            return None
        if camera_id in self.scales:
            return self.scales[camera_id]
        if len(self.scales) == 1 or camera_id is None:
            return next(iter(self.scales.values()))
        raise CalibrationError(f"camera {camera_id!r} has no calibration (calibrated: {', '.join(self.scales)})")

    def judge(self, detections: tuple[Detection, ...], frame: Frame | FrameFailure | None = None) -> Judgement:
        scale = self.scale_for(frame.camera_id if frame is not None else None)
        if scale is not None:
            detections = measure_all(detections, scale)
        counted = [d for d in detections if self._counts(d)]
        breaches: list[ZoneBreach] = []
        if self.recipe.zones and scale is not None and counted:
            image = frame.image if isinstance(frame, Frame) else None
            polygons = zone_polygons_px(self.recipe.zones, self.recipe.part, scale.mm_per_px, image,
                                        self.align)
            unzoned, breaches, placed = evaluate_zones(
                self.recipe.zones, polygons, counted, lambda d: scale.undistort(np.array([d.box.center]))[0])
            tagged = {id(d): replace(d, attributes={**d.attributes, "zone": placed[id(d)]})
                      for d in detections if id(d) in placed}
            detections = tuple(tagged.get(id(d), d) for d in detections)
            unzoned = [tagged.get(id(d), d) for d in unzoned]
            breaches = [replace(b, detections=tuple(tagged.get(id(d), d) for d in b.detections)) for b in breaches]
            counted = _unique([*unzoned, *(d for b in breaches for d in b.detections)])
        fails = [d for d in counted if self.recipe.rule_for(d.class_name).action == "fail"]
        reviews = [d for d in counted if self.recipe.rule_for(d.class_name).action == "review"]
        if fails:
            reasons = _reasons("defect", fails, breaches)
            return Judgement(Verdict(VerdictStatus.FAIL, reasons), tuple(counted), detections)
        if reviews:
            reasons = _reasons("review", reviews, breaches)
            return Judgement(Verdict(VerdictStatus.REVIEW, reasons), tuple(counted), detections)
        return Judgement(Verdict.passed(), (), detections)

    def failsafe(self, code: str, message: str) -> Verdict:
        """The verdict for a part that could not be inspected: never a pass."""
        status = VerdictStatus(self.recipe.failsafe_verdict)
        return Verdict(status, (Reason(code, message),), failsafe=True)

    def _counts(self, detection: Detection) -> bool:
        rule = self.recipe.rule_for(detection.class_name)
        return rule.action != "ignore" and self._big_enough(detection, rule) and self._in_roi(detection)

    def _big_enough(self, d: Detection, rule: ClassRule) -> bool:
        if d.confidence < rule.min_confidence:
            return False
        if d.measures is not None:  # measured in mm: the mm limits apply to the measured size
            if rule.min_area_mm2 is not None and d.measures.area_mm2 < rule.min_area_mm2:
                return False
            if rule.min_length_mm is not None and d.measures.length_mm < rule.min_length_mm:
                return False
        min_area, min_length = rule.min_area_px, rule.min_length_px
        scale = self.recipe.pixel_size_mm if d.measures is None else None
        if scale is not None:
            if rule.min_area_mm2 is not None:
                min_area = max(min_area, rule.min_area_mm2 / (scale * scale))
            if rule.min_length_mm is not None:
                min_length = max(min_length, rule.min_length_mm / scale)
        if min_area > 0 and d.area_px < min_area:
            return False
        return not (min_length > 0 and d.length_px < min_length)

    def _in_roi(self, d: Detection) -> bool:
        centre = tuple(float(c) for c in d.box.center)
        if self._include and not any(cv2.pointPolygonTest(p, centre, False) >= 0 for p in self._include):
            return False
        return not any(cv2.pointPolygonTest(p, centre, False) >= 0 for p in self._exclude)


def _unique(detections: list[Detection]) -> list[Detection]:
    seen: set[int] = set()
    return [d for d in detections if not (id(d) in seen or seen.add(id(d)))]  # type: ignore[func-returns-value]


def _reasons(code: str, detections: list[Detection], breaches: Sequence[ZoneBreach] = ()) -> tuple[Reason, ...]:
    """One reason per broken zone rule ('zone class_a: inclusion 0.24 mm > max_diameter_mm 0.1'), then one per
    class of the defects judged without zones, strongest first: 'bridge ×2 (0.91)'."""
    ids = {id(d) for d in detections}
    zone_reasons = tuple(Reason(f"zone_{b.rule}", b.message, class_name=b.detections[0].class_name)
                         for b in breaches if any(id(d) in ids for d in b.detections))
    in_breach = {id(d) for b in breaches for d in b.detections}
    by_class: dict[str, list[Detection]] = {}
    for d in sorted(detections, key=lambda d: -d.confidence):
        if id(d) not in in_breach:
            by_class.setdefault(d.class_name, []).append(d)
    return zone_reasons + tuple(
        Reason(code, f"{name} ×{len(ds)} ({ds[0].confidence:.2f}){_size(ds[0])}", class_name=name)
        for name, ds in by_class.items()
    )


def _size(d: Detection) -> str:
    return "" if d.measures is None else f" {d.measures.diameter_mm:.2f} mm"
