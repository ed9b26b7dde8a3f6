"""Detections are merged as SAHI does for tiles (a defect cut by a tile edge is counted once) and by box
voting for test-time flips (each flipped copy's detection maps back onto the same defect)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from inspection.domain.tiling import TilingOptions, intersection_over_smaller, merge_detections, tile_windows
from inspection.domain.tta import TtaOptions, vote_boxes
from inspection.domain.types import Frame
from inspection.inference.model import ModelMeta
from inspection.inference.yolo import nms
from inspection.inference.yolo_detector import YoloDetector

TILING = TilingOptions(tile_px=100, overlap_px=20)  # 200-px frame → tiles at x 0, 80, 100
DEFECT = (90.0, 40.0, 130.0, 60.0)  # crosses the edges at x = 100 (tile 0) and x = 100 (tile 2)


def _seen_by_tiles(box: tuple[float, float, float, float], height: int, width: int) -> np.ndarray:
    """What each tile reports of one defect: its part inside the tile, in frame pixels."""
    seen = []
    for x1, y1, x2, y2 in tile_windows(height, width, TILING):
        cut = (max(box[0], x1), max(box[1], y1), min(box[2], x2), min(box[3], y2))
        if cut[2] > cut[0] and cut[3] > cut[1]:
            seen.append(cut)
    return np.asarray(seen, np.float32)


def test_intersection_over_smaller_is_one_for_a_sliver_inside_a_box() -> None:
    whole = np.array([90, 40, 130, 60], np.float32)
    pieces = np.array([[90, 40, 100, 60], [100, 40, 130, 60], [140, 40, 150, 60]], np.float32)
    assert intersection_over_smaller(whole, pieces) == pytest.approx([1.0, 1.0, 0.0])


def test_a_box_cut_by_a_tile_edge_is_one_defect() -> None:
    boxes = _seen_by_tiles(DEFECT, 100, 200)
    assert len(boxes) == 3  # a sliver in tile 0, the whole defect in tile 1, the rest in tile 2
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    classes = np.zeros(3, np.int64)
    assert len(nms(boxes, scores, classes, TILING.merge_iou, 100)) == 2  # plain NMS: counted twice
    merged, groups = merge_detections(boxes, scores, classes, TILING.merge_iou, 100)
    assert merged.tolist() == [list(DEFECT)] and [sorted(g) for g in groups] == [[0, 1, 2]]
    assert groups[0][0] == 1  # the group is led by (takes the score of) the best detection


def test_merge_keeps_separate_defects_and_other_classes_apart() -> None:
    boxes = np.array([[10, 10, 30, 30], [12, 12, 28, 28], [60, 10, 80, 30], [12, 12, 28, 28]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 0, 1])
    merged, groups = merge_detections(boxes, scores, classes, 0.5, 100)
    assert [sorted(g.tolist()) for g in groups] == [[0, 1], [2], [3]]
    assert merged[0].tolist() == [10, 10, 30, 30]
    assert len(merge_detections(boxes, scores, classes, 0.5, 2)[1]) == 2  # max_det bounds the groups
    empty = merge_detections(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, int), 0.5, 10)
    assert empty[0].shape == (0, 4) and empty[1] == []


class _DarkSpotNet:
    """A tiny stand-in network: reports the bounding box of the dark pixels of each input as one defect."""

    name, max_batch, input_shape = "darkspot", 4, (-1, 3, 96, 96)

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        out = np.zeros((len(batch), 5, 1), np.float32)
        for i, image in enumerate(batch):
            ys, xs = np.nonzero(image[0] < 0.1)
            if len(xs):
                x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                out[i, :, 0] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0.9]
        return [out]

    def close(self) -> None:
        """Nothing to release."""


@pytest.mark.parametrize(("merge", "count"), [("ios", 1), ("iou", 2)])
def test_the_detector_reports_a_defect_on_a_tile_edge_once(merge: str, count: int, tmp_path: Path) -> None:
    image = np.full((100, 200), 200, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in DEFECT)
    image[y1:y2, x1:x2] = 0
    tiling = TILING.model_copy(update={"merge": merge})
    meta = ModelMeta(class_names=("spot",), imgsz=(96, 96), task="detect")
    (tmp_path / "darkspot.onnx").write_bytes(b"stand-in")  # the detector names its model by the file's hash
    detector = YoloDetector(_DarkSpotNet(), meta, tmp_path / "darkspot.onnx", conf=0.25, iou=0.5, max_det=100,
                            tiling=tiling)
    found = detector.detect(Frame(image, "cam", 1, 0.0)).detections
    assert len(found) == count
    if merge == "ios":
        box = found[0].box
        assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx(DEFECT, abs=2.5)  # letterbox rounding


def test_a_sliver_leading_the_group_still_gathers_the_far_piece() -> None:
    # equal scores: the sliver (tile 0) leads; it does not touch the far piece (tile 2), the union does
    boxes = _seen_by_tiles(DEFECT, 100, 200)
    merged, groups = merge_detections(boxes, np.full(3, 0.9, np.float32), np.zeros(3, np.int64), 0.5, 100)
    assert len(groups) == 1 and merged.tolist() == [list(DEFECT)]


def _darkspot_detector(tmp_path: Path, tiling: TilingOptions | None = None,
                       tta: TtaOptions | None = None) -> YoloDetector:
    meta = ModelMeta(class_names=("spot",), imgsz=(96, 96), task="detect")
    (tmp_path / "darkspot.onnx").write_bytes(b"stand-in")  # the detector names its model by the file's hash
    return YoloDetector(_DarkSpotNet(), meta, tmp_path / "darkspot.onnx", conf=0.25, iou=0.5, max_det=100,
                        tiling=tiling, tta=tta)


SPOT = (20.0, 10.0, 50.0, 30.0)  # off-centre both ways: a flipped copy finds it elsewhere until mapped back


@pytest.mark.parametrize("flips", [["hflip"], ["vflip"], ["rot180"], ["hflip", "vflip", "rot180"]])
def test_each_flipped_copy_maps_back_onto_the_defect(flips: list[str], tmp_path: Path) -> None:
    image = np.full((120, 160, 3), 200, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in SPOT)
    image[y1:y2, x1:x2] = 0
    detector = _darkspot_detector(tmp_path, tta=TtaOptions(flips=flips))
    frame = Frame(image, "cam", 1, 0.0)
    prepared = detector.prepare(frame)
    assert len(prepared.inputs) == 1 + len(flips)  # the image itself and one copy per flip
    detector.release(prepared)
    found = detector.detect(frame).detections
    assert len(found) == 1  # copies mapped onto each other: one defect (unmapped, they would lie apart)
    box = found[0].box
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx(SPOT, abs=2.5)  # letterbox rounding


def test_flips_and_tiles_together_still_count_a_cut_defect_once(tmp_path: Path) -> None:
    image = np.full((100, 200), 200, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in DEFECT)
    image[y1:y2, x1:x2] = 0
    detector = _darkspot_detector(tmp_path, tiling=TILING, tta=TtaOptions(flips=["hflip", "vflip"]))
    frame = Frame(image, "cam", 1, 0.0)
    prepared = detector.prepare(frame)
    assert len(prepared.inputs) == len(tile_windows(100, 200, TILING)) * 3
    detector.release(prepared)
    found = detector.detect(frame).detections
    assert len(found) == 1
    box = found[0].box
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx(DEFECT, abs=2.5)


def test_box_voting_averages_by_score_and_keeps_the_best_score() -> None:
    boxes = np.array([[10, 10, 30, 30], [12, 10, 32, 30], [60, 10, 80, 30], [10, 10, 30, 30]], np.float32)
    scores = np.array([0.6, 0.2, 0.7, 0.5], np.float32)
    classes = np.array([0, 0, 0, 1])
    fused, groups = vote_boxes(boxes, scores, classes, 0.55, 100)
    assert [g.tolist() for g in groups] == [[2], [0, 1], [3]]  # best group first, leader first
    assert fused[1].tolist() == pytest.approx([10.5, 10, 30.5, 30])  # (0.6·10 + 0.2·12) / 0.8
    assert len(vote_boxes(boxes, scores, classes, 0.55, 2)[1]) == 2  # max_det bounds the groups
    empty = vote_boxes(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, int), 0.55, 10)
    assert empty[0].shape == (0, 4) and empty[1] == []


def test_only_label_preserving_flips_are_accepted() -> None:
    with pytest.raises(ValidationError, match="hflip"):
        TtaOptions(flips=["rot90"])
    with pytest.raises(ValidationError):
        TtaOptions(flips=[])
