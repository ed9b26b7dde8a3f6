"""Size-based evaluation: truth outlines from a real synthetic segmentation set, the recipe's judge on truth and
predictions, and size errors of masks versus boxes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inspection.domain.measure import Scale
from inspection.domain.recipe import Recipe
from inspection.domain.types import Box, Detection
from inspection.simulation.synthetic import generator_for, write_yolo_dataset
from training.size_eval import evaluate_sizes, load_outlines, size_table


def disc(cx: float, cy: float, r: float) -> tuple[tuple[float, float], ...]:
    return tuple((cx + r * math.cos(t), cy + r * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 48, False))


def test_outlines_of_a_segmentation_set_are_polygons(tmp_path: Path) -> None:
    gen = generator_for("paint", seed=3, imgsz=160)
    data = write_yolo_dataset(gen, tmp_path / "set", 0, 0, "segment", n_test=4)
    images, truths, names = load_outlines(data, "test")
    assert len(images) == 4 and "inclusion" in names.values()
    parts = [gen.part(i) for i in range(4)]
    assert [len(t) for t in truths] == [len(p.defects) for p in parts]
    for found, part in zip(truths, parts, strict=True):
        for d, true in zip(found, part.defects, strict=True):
            assert d.polygon is not None and d.class_name == true.class_name
            assert d.area_px == pytest.approx(cv_area(true.polygon), rel=0.02, abs=2.0)


def cv_area(polygon: np.ndarray) -> float:
    xs, ys = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))) / 2.0)


def test_size_based_escapes_false_rejects_and_mask_vs_box_errors(tmp_path: Path) -> None:
    import cv2

    recipe = Recipe.model_validate({
        "name": "sized", "pixel_size_mm": 0.1, "measure": {"calibration": "nominal"},
        "default": {"min_confidence": 0.3},
        "zones": [{"name": "all", "polygon": [[0, 0], [20, 0], [20, 20], [0, 20]],
                   "classes": {"inclusion": {"max_diameter_mm": 1.0}}}]})
    images = []
    for i in range(3):
        path = tmp_path / f"p{i}.png"
        cv2.imwrite(str(path), np.zeros((200, 200, 3), np.uint8))
        images.append(path)

    def det(r: float, conf: float = 1.0, mask: bool = True) -> Detection:
        return Detection("inclusion", conf, Box(100 - r, 100 - r, 100 + r, 100 + r), 0,
                         disc(100, 100, r) if mask else None)

    # part 0: a 2 mm inclusion (reject), the model sees it at 1.8 mm: caught.
    # part 1: a 0.6 mm inclusion (accepted by the spec); the model's box-only outline reads 0.68 mm: passed.
    # part 2: a 0.6 mm inclusion, the model's mask says 1.2 mm: a false reject (and too far off to match).
    truths = [[det(10)], [det(3)], [det(3)]]
    preds = [[det(9, 0.9)], [det(3, 0.9, mask=False)], [det(6, 0.9)]]
    report = evaluate_sizes(recipe, truths, preds, images, Scale.nominal(0.1))
    assert (report.truth_rejects, report.truth_passes) == (1, 2)
    assert (report.escapes, report.false_rejects) == (0, 1)
    assert report.false_reject_rate == pytest.approx(0.5)
    errors = report.size_errors["inclusion"]
    assert errors["n"] == 2  # parts 0 and 1 (box IoU >= 0.5)
    polygon = 24 / math.pi * math.sin(math.pi / 24)  # a 48-gon's share of its circle's area
    box_err = 4 / (math.pi * polygon) - 1  # a box around a disc: 28 % too much area
    assert errors["area_rel_err_median"] == pytest.approx((0.19 + box_err) / 2, rel=0.02)
    assert errors["area_rel_err_box_only_median"] == pytest.approx((324 / (100 * math.pi * polygon) - 1 + box_err)
                                                                   / 2, rel=0.02)
    missed = evaluate_sizes(recipe, truths, [[], [], []], images, Scale.nominal(0.1))
    assert missed.escapes == 1 and missed.escape_rate == 1.0 and missed.false_rejects == 0
    assert "escape 0.0 % (0/1)" in size_table(report)
