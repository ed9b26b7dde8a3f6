"""Recipe judge: detections in, verdict out. Pure and fast; no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.domain.recipe import ClassRule, Recipe
from inspection.domain.types import Detection, Reason, Verdict, VerdictStatus

__all__ = ["Judge", "Judgement"]


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    defects: tuple[Detection, ...]


class Judge:
    """Applies one recipe. Build once per recipe; `judge()` is called per part."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self._include = [np.asarray(p, dtype=np.float32) for p in recipe.roi.include]
        self._exclude = [np.asarray(p, dtype=np.float32) for p in recipe.roi.exclude]

    def judge(self, detections: tuple[Detection, ...]) -> Judgement:
        counted = [d for d in detections if self._counts(d)]
        fails = [d for d in counted if self.recipe.rule_for(d.class_name).action == "fail"]
        reviews = [d for d in counted if self.recipe.rule_for(d.class_name).action == "review"]
        if fails:
            return Judgement(Verdict(VerdictStatus.FAIL, _reasons("defect", fails)), tuple(counted))
        if reviews:
            return Judgement(Verdict(VerdictStatus.REVIEW, _reasons("review", reviews)), tuple(counted))
        return Judgement(Verdict.passed(), ())

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
        min_area, min_length = rule.min_area_px, rule.min_length_px
        scale = self.recipe.pixel_size_mm
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


def _reasons(code: str, detections: list[Detection]) -> tuple[Reason, ...]:
    """One reason per class, strongest detection first: 'bridge ×2 (0.91)'."""
    by_class: dict[str, list[Detection]] = {}
    for d in sorted(detections, key=lambda d: -d.confidence):
        by_class.setdefault(d.class_name, []).append(d)
    return tuple(
        Reason(code, f"{name} ×{len(ds)} ({ds[0].confidence:.2f})", class_name=name)
        for name, ds in by_class.items()
    )
