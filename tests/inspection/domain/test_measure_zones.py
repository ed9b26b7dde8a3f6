"""Defect sizes in mm (mask or box, undistorted), calibration validity, and acceptance zones in the judge."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from inspection.aoi.part_align import align_part
from inspection.domain.calibration import Calibration, CalibrationError, save_calibration
from inspection.domain.judge import Judge
from inspection.domain.measure import Scale, measure, scales_for
from inspection.domain.recipe import Recipe, load_recipe
from inspection.domain.types import Box, Detection, Frame, Inspection, Measures, VerdictStatus
from inspection.errors import ConfigError, DataError
from inspection.records.store import Store

K = np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]])


def calibration(created: datetime, dist: tuple[float, ...] = (0, 0, 0, 0, 0), mm_per_px: float = 0.1,
                camera: str = "cam0") -> Calibration:
    h = np.diag([mm_per_px, mm_per_px, 1.0])
    return Calibration(camera, created.isoformat(timespec="seconds"), (640, 480), K, np.array(dist), h,
                       mm_per_px, 0.1, 5)


def disc(cx: float, cy: float, r: float, n: int = 64) -> tuple[tuple[float, float], ...]:
    return tuple((cx + r * math.cos(t), cy + r * math.sin(t)) for t in np.linspace(0, 2 * math.pi, n, False))


def det(cls: str, cx: float, cy: float, r: float, conf: float = 0.9, mask: bool = True) -> Detection:
    return Detection(cls, conf, Box(cx - r, cy - r, cx + r, cy + r), polygon=disc(cx, cy, r) if mask else None)


def test_mask_and_box_measures_in_mm() -> None:
    scale = Scale.nominal(0.1)
    m = measure(det("inclusion", 100, 100, 10), scale)  # a 2 mm disc
    assert m.from_mask and m.area_mm2 == pytest.approx(math.pi, rel=0.01)
    assert m.diameter_mm == pytest.approx(2.0, rel=0.01) and m.length_mm == pytest.approx(2.0, rel=0.02)
    b = measure(det("inclusion", 100, 100, 10, mask=False), scale)
    assert not b.from_mask and b.area_mm2 == pytest.approx(4.0) and b.width_mm == pytest.approx(2.0)
    line = Detection("scratch", 0.9, Box(0, 0, 50, 50), polygon=((0, 0), (50, 50), (51, 49), (1, -1)))
    m = measure(line, scale)
    assert m.length_mm == pytest.approx(50 * math.sqrt(2) * 0.1, rel=0.02) and m.width_mm < 0.2


def test_measures_undistort_before_measuring() -> None:
    """The same 20 px disc at the image corner is bigger in mm once barrel distortion is undone."""
    cal = calibration(datetime.now(UTC), dist=(-0.3, 0.0, 0.0, 0.0, 0.0))
    centre = measure(det("crater", 320, 240, 10), Scale.calibrated(cal))
    corner = measure(det("crater", 40, 30, 10), Scale.calibrated(cal))
    assert centre.diameter_mm == pytest.approx(2.0, rel=0.01)
    assert corner.diameter_mm > 2.1


def test_measures_validated() -> None:
    with pytest.raises(ValueError, match="width_mm <= length_mm"):
        Measures(1.0, 1.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="area_mm2"):
        Measures(float("nan"), 1.0, 1.0, 1.0)
    with pytest.raises(TypeError, match="measures"):
        Detection("run", 0.5, Box(0, 0, 1, 1), measures={"area_mm2": 1.0})  # type: ignore[arg-type]


def recipe(**extra: object) -> Recipe:
    return Recipe.model_validate({"name": "mm", "default": {"min_confidence": 0.3}, **extra})


def test_recipe_in_mm_refuses_missing_or_old_calibration(tmp_path: Path) -> None:
    r = recipe(measure={"max_calibration_age_days": 7})
    with pytest.raises(CalibrationError, match="no calibration"):
        scales_for(r, ["cam0"], tmp_path)
    save_calibration(calibration(datetime.now(UTC) - timedelta(days=10)), tmp_path)
    with pytest.raises(CalibrationError, match="older than measure.max_calibration_age_days 7"):
        scales_for(r, ["cam0"], tmp_path)
    save_calibration(calibration(datetime.now(UTC) - timedelta(days=1)), tmp_path)
    scales = scales_for(r, ["cam0"], tmp_path)
    assert scales["cam0"].calibration is not None and scales["cam0"].mm_per_px == pytest.approx(0.1)
    with pytest.raises(CalibrationError, match="no calibration"):
        Judge(r)
    with pytest.raises(ValueError, match="zones are in part millimetres"):
        recipe(zones=[{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]]}])


def test_station_refuses_to_start_a_mm_recipe_without_calibration(station_yaml: Path) -> None:
    from inspection.config import load_station_config
    from inspection.runtime.pipeline import Station

    recipe_file = station_yaml.parent / "recipe.yaml"
    raw = yaml.safe_load(recipe_file.read_text())
    raw["measure"] = {"calibration": "required"}
    recipe_file.write_text(yaml.safe_dump(raw))
    config = load_station_config(station_yaml)
    with pytest.raises(CalibrationError, match="station calibrate"):
        Station(config)
    save_calibration(calibration(datetime.now(UTC)), config.calibrations_dir)
    assert Station(config).judge.scales["cam0"].calibration is not None


ZONES = {
    "pixel_size_mm": 0.1,
    "measure": {"calibration": "nominal"},
    "classes": {"inclusion": {"min_confidence": 0.3}, "run": {"min_confidence": 0.3},
                "orange_peel": {"min_confidence": 0.3, "action": "review"}},
    # Two halves of a 64×32 mm panel (640×320 px at 0.1 mm/px).
    "zones": [
        {"name": "class_a", "polygon": [[0, 0], [32, 0], [32, 32], [0, 32]],
         "classes": {"inclusion": {"max_diameter_mm": 0.1}, "run": {"max_length_mm": 5}}},
        {"name": "hidden", "polygon": [[32, 0], [64, 0], [64, 32], [32, 32]],
         "classes": {"inclusion": {"max_diameter_mm": 3.0, "max_count": 2},
                     "orange_peel": {"max_total_area_mm2": 20.0}},
         "total": {"max_total_area_mm2": 30.0}},
    ],
}


def frame() -> Frame:
    return Frame(np.zeros((320, 640, 3), np.uint8), "cam0", 0, 0.0)


def test_zone_limits_decide_and_name_zone_and_rule() -> None:
    judge = Judge(recipe(**ZONES), {"cam0": Scale.nominal(0.1)})
    # A 2 mm inclusion is accepted on the hidden side, rejected on the class-A side.
    ok = judge.judge((det("inclusion", 480, 160, 10),), frame())
    assert ok.verdict.status is VerdictStatus.PASS
    assert ok.detections[0].attributes["zone"] == "hidden" and ok.detections[0].measures is not None
    bad = judge.judge((det("inclusion", 160, 160, 10),), frame())
    assert bad.verdict.status is VerdictStatus.FAIL
    reason = bad.verdict.reasons[0]
    assert reason.code == "zone_max_diameter_mm" and "zone class_a" in reason.message and "2.00 mm" in reason.message
    assert bad.defects[0].attributes["zone"] == "class_a"
    # A third acceptable inclusion in the hidden zone breaks its count.
    three = judge.judge(tuple(det("inclusion", 400 + 60 * i, 160, 5) for i in range(3)), frame())
    assert three.verdict.status is VerdictStatus.FAIL and "max_count 2" in three.verdict.reasons[0].message
    assert len(three.defects) == 3
    # Orange peel (a review class) over its total area in the zone goes to review, named by zone and rule.
    peel = judge.judge((det("orange_peel", 400, 100, 20), det("orange_peel", 560, 200, 20)), frame())
    assert peel.verdict.status is VerdictStatus.REVIEW
    assert [r.code for r in peel.verdict.reasons] == ["zone_max_total_area_mm2"]
    # Outside every zone (a class without zone limits) is judged as before: it fails.
    outside = judge.judge((det("crater", 160, 160, 3),), frame())
    assert outside.verdict.status is VerdictStatus.FAIL and outside.verdict.reasons[0].code == "defect"


def test_zone_total_over_all_classes() -> None:
    judge = Judge(recipe(**ZONES), {"cam0": Scale.nominal(0.1)})
    # Each is within its class's limits (2.9 mm inclusions ×2, 18.9 mm² of peel); together 32 mm² > 30 mm².
    found = (det("inclusion", 400, 80, 14.5), det("inclusion", 400, 240, 14.5), det("orange_peel", 560, 160, 24.5))
    verdict = judge.judge(found, frame()).verdict
    assert verdict.status is VerdictStatus.FAIL
    assert any(r.code == "zone_max_total_area_mm2" and "all classes" in r.message for r in verdict.reasons)


def test_zones_aligned_by_fiducials_follow_a_shifted_part() -> None:
    """Part coordinates follow the fiducials: the part lies 100 px (10 mm) right of nominal."""
    import cv2

    fids = [{"name": "F1", "x_mm": 2, "y_mm": 2, "diameter_mm": 1.0}, {"name": "F2", "x_mm": 30, "y_mm": 28,
                                                                       "diameter_mm": 1.0}]
    spec = dict(ZONES, part={"fiducials": fids, "search_radius_mm": 12})
    with pytest.raises(ConfigError, match="fiducial aligner"):  # the domain cannot find fiducials by itself
        Judge(recipe(**spec), {"cam0": Scale.nominal(0.1)})
    judge = Judge(recipe(**spec), {"cam0": Scale.nominal(0.1)}, align=align_part)
    image = np.zeros((320, 640, 3), np.uint8)
    for f in fids:
        cv2.circle(image, (round(f["x_mm"] * 10) + 100, round(f["y_mm"] * 10)), 5, (255, 255, 255), -1, cv2.LINE_AA)
    shifted = Frame(image, "cam0", 0, 0.0)
    # 2 mm inclusion at x = 34 mm in the image = 24 mm on the part: class A once aligned (hidden if not).
    result = judge.judge((det("inclusion", 340, 160, 10),), shifted)
    assert result.verdict.status is VerdictStatus.FAIL and "zone class_a" in result.verdict.reasons[0].message
    with pytest.raises(DataError, match="not found"):  # no fiducials in view: not inspected (fail-safe upstream)
        judge.judge((det("inclusion", 340, 160, 10),), frame())


def test_store_keeps_measures_and_migrates_an_old_database(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # a detections table from before the mm columns
        conn.execute("create table detections (id integer primary key, inspection_id int, class_name text, "
                     "class_id int, confidence real, x1 real, y1 real, x2 real, y2 real, area_px real, "
                     "polygon text, source text, counted int)")
    judge = Judge(recipe(**ZONES), {"cam0": Scale.nominal(0.1)})
    f = frame()
    judgement = judge.judge((det("inclusion", 160, 160, 10), det("run", 500, 100, 4, mask=False)), f)
    with Store(db) as store:
        store.record(Inspection(f, judgement.detections, judgement.verdict, judgement.defects))
        rows = store.query("select class_name, area_mm2, diameter_mm, length_mm, zone, counted from detections "
                           "order by id")
    assert rows[0]["class_name"] == "inclusion" and rows[0]["zone"] == "class_a" and rows[0]["counted"] == 1
    assert rows[0]["diameter_mm"] == pytest.approx(2.0, rel=0.01)
    assert rows[1]["zone"] == "hidden" and rows[1]["counted"] == 1
    assert rows[1]["length_mm"] == pytest.approx(0.8, rel=1e-4)


def test_demo_zone_recipe_loads() -> None:
    r = load_recipe(Path(__file__).resolve().parents[3] / "inspection" / "demo" / "recipes" / "paint_zones.yaml")
    assert r.measure is not None and {z.name for z in r.zones} >= {"class_a"}
