from __future__ import annotations

import pytest

from inspection.domain.judge import Judge
from inspection.domain.recipe import ClassRule, Recipe, RegionOfInterest
from inspection.domain.types import Box, Detection, VerdictStatus


def det(name: str, conf: float, box: tuple[float, float, float, float] = (10, 10, 20, 20)) -> Detection:
    return Detection(name, conf, Box(*box))


def test_thresholds_per_class_and_default() -> None:
    judge = Judge(Recipe(name="r", default=ClassRule(min_confidence=0.6),
                         classes={"bridge": ClassRule(min_confidence=0.3)}))
    assert judge.judge((det("bridge", 0.35),)).verdict.status is VerdictStatus.FAIL
    assert judge.judge((det("void", 0.35),)).verdict.status is VerdictStatus.PASS
    result = judge.judge((det("void", 0.7), det("void", 0.9), det("bridge", 0.1)))
    assert result.verdict.status is VerdictStatus.FAIL
    assert [r.class_name for r in result.verdict.reasons] == ["void"]
    assert "void ×2 (0.90)" in result.verdict.reasons[0].message
    assert len(result.defects) == 2


def test_minimum_size_in_pixels_and_millimetres() -> None:
    judge = Judge(Recipe(name="r", pixel_size_mm=0.1,
                         classes={"ball": ClassRule(min_confidence=0.1, min_length_mm=1.5),
                                  "void": ClassRule(min_confidence=0.1, min_area_px=150)}))
    assert judge.judge((det("ball", 0.9, (0, 0, 10, 10)),)).verdict.status is VerdictStatus.PASS  # 1.0 mm
    assert judge.judge((det("ball", 0.9, (0, 0, 20, 10)),)).verdict.status is VerdictStatus.FAIL  # 2.0 mm
    assert judge.judge((det("void", 0.9, (0, 0, 10, 10)),)).verdict.status is VerdictStatus.PASS
    assert judge.judge((det("void", 0.9, (0, 0, 20, 10)),)).verdict.status is VerdictStatus.FAIL


def test_region_of_interest_include_and_exclude() -> None:
    roi = RegionOfInterest(include=[[(0, 0), (100, 0), (100, 100), (0, 100)]],
                           exclude=[[(0, 0), (30, 0), (30, 30), (0, 30)]])
    judge = Judge(Recipe(name="r", default=ClassRule(min_confidence=0.1), roi=roi))
    assert judge.judge((det("x", 0.9, (10, 10, 20, 20)),)).verdict.status is VerdictStatus.PASS  # excluded
    assert judge.judge((det("x", 0.9, (200, 200, 210, 210)),)).verdict.status is VerdictStatus.PASS  # outside
    assert judge.judge((det("x", 0.9, (50, 50, 60, 60)),)).verdict.status is VerdictStatus.FAIL


def test_actions_review_and_ignore_and_failsafe() -> None:
    judge = Judge(Recipe(name="r", classes={"anomaly": ClassRule(min_confidence=0.1, action="review"),
                                            "dust": ClassRule(min_confidence=0.1, action="ignore")}))
    assert judge.judge((det("dust", 0.99),)).verdict.status is VerdictStatus.PASS
    assert judge.judge((det("anomaly", 0.5),)).verdict.status is VerdictStatus.REVIEW
    assert judge.judge((det("anomaly", 0.5), det("bridge", 0.9))).verdict.status is VerdictStatus.FAIL
    verdict = judge.failsafe("decode_error", "corrupt")
    assert verdict.status is VerdictStatus.ERROR and verdict.failsafe


@pytest.mark.parametrize("status", ["ERROR", "FAIL"])
def test_failsafe_verdict_follows_recipe(status: str) -> None:
    verdict = Judge(Recipe(name="r", failsafe_verdict=status)).failsafe("deadline", "late")  # type: ignore[arg-type]
    assert verdict.status.value == status and verdict.status.rejects
