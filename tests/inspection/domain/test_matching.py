"""IoU and greedy matching (the one definition), and which files are images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspection.domain.images import IMAGE_SUFFIXES, image_files
from inspection.domain.matching import box_iou, f1, greedy_match, iou
from inspection.domain.types import Box


def test_iou_of_overlapping_disjoint_and_degenerate_boxes() -> None:
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [5, 5, 5, 9]], float)
    b = np.array([[5, 0, 15, 10], [5, 5, 5, 9]], float)
    m = box_iou(a, b)
    assert m.shape == (3, 2)
    assert m[0, 0] == pytest.approx(50 / 150)
    assert m[1, 0] == 0.0
    assert m[2, 1] == 1.0 and m[2, 0] == 0.0  # a zero-area box matches only itself
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 2)
    assert iou(Box(0, 0, 10, 10), Box(0, 0, 10, 5)) == pytest.approx(0.5)


def test_greedy_match_takes_the_best_score_first_and_respects_classes() -> None:
    truth = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float)
    preds = np.array([[1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 61], [200, 200, 210, 210]], float)
    scores = np.array([0.6, 0.9, 0.8, 0.7])
    got = greedy_match(preds, scores, np.array([0, 0, 1, 0]), truth, np.array([0, 0]), 0.5)
    assert got.tolist() == [-1, 0, -1, -1]  # 0.9 wins the first box; the class-1 prediction matches nothing
    got = greedy_match(preds, scores, None, truth, None, 0.5)
    assert got.tolist() == [-1, 0, 1, -1]
    assert greedy_match(preds, scores, None, np.zeros((0, 4)), None, 0.5).tolist() == [-1] * 4


def test_f1_is_one_when_nothing_was_there_and_nothing_found() -> None:
    assert f1(0, 0, 0) == 1.0
    assert f1(2, 1, 1) == pytest.approx(4 / 6)


def test_image_files_lists_images_only_sorted_and_recursively_on_request(tmp_path: Path) -> None:
    for name in ("b.PNG", "a.jpg", "notes.txt", "sub/c.tif"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    assert [p.name for p in image_files(tmp_path)] == ["a.jpg", "b.PNG"]
    assert [p.name for p in image_files(tmp_path, recursive=True)] == ["a.jpg", "b.PNG", "c.tif"]
    assert {".png", ".jpg", ".tif"} <= IMAGE_SUFFIXES
