"""Label placement: labels never overprint each other, avoid other boxes, stay in the image."""

from __future__ import annotations

import random

import pytest

from inspection.domain.label_layout import overlap_area, place_labels

BOUNDS = (0.0, 0.0, 640.0, 480.0)


def _inside(rect, bounds=BOUNDS) -> bool:
    return (rect[0] >= bounds[0] and rect[1] >= bounds[1] and rect[0] + rect[2] <= bounds[0] + bounds[2] + 1e-9
            and rect[1] + rect[3] <= bounds[1] + bounds[3] + 1e-9)


def test_a_lone_label_sits_above_its_box() -> None:
    [p] = place_labels([(100, 100, 50, 40)], [(80, 14)], BOUNDS)
    assert p.rect == (100, 100 - 14 - 2.0, 80, 14) and not p.detached and p.free


def test_touching_detections_from_the_issue_do_not_overprint() -> None:
    """"excess 0.38" and "insufficient 0.12" on two boxes that touch, one just under the other's label."""
    boxes = [(200, 200, 40, 30), (200, 170, 60, 28)]
    sizes = [(90, 14), (120, 14)]
    a, b = place_labels(boxes, sizes, BOUNDS)
    assert overlap_area(a.rect, b.rect) == 0
    assert overlap_area(a.rect, boxes[1]) == 0 and overlap_area(b.rect, boxes[0]) == 0


def test_a_box_at_the_top_edge_gets_its_label_below_not_over_itself() -> None:
    [p] = place_labels([(10, 0, 60, 40)], [(70, 14)], BOUNDS)
    assert _inside(p.rect) and overlap_area(p.rect, (10, 0, 60, 40)) == 0 and p.rect[1] >= 40


@pytest.mark.parametrize("seed", range(5))
def test_a_crowded_image_keeps_every_label_readable(seed: int) -> None:
    rng = random.Random(seed)
    boxes = [(rng.uniform(0, 560), rng.uniform(0, 420), rng.uniform(10, 80), rng.uniform(10, 60)) for _ in range(25)]
    boxes = [(x, y, min(w, 640 - x), min(h, 480 - y)) for x, y, w, h in boxes]
    sizes = [(rng.uniform(60, 130), 14.0) for _ in boxes]
    placements = place_labels(boxes, sizes, BOUNDS)
    rects = [p.rect for p in placements]
    assert all(_inside(r) for r in rects)
    assert all(p.free for p in placements)
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            assert overlap_area(rects[i], rects[j]) == 0, (i, j, rects[i], rects[j])


def test_first_boxes_win_the_best_places_and_sizes_must_match() -> None:
    boxes = [(100, 100, 50, 40), (100, 100, 50, 40)]  # the same place twice: the second label moves
    first, second = place_labels(boxes, [(60, 14), (60, 14)], BOUNDS)
    assert first.rect[1] == 100 - 16 and overlap_area(first.rect, second.rect) == 0
    with pytest.raises(ValueError, match="one label size per box"):
        place_labels(boxes, [(1, 1)], BOUNDS)
