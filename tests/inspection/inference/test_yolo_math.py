"""Pre/post-processing maths of the exported-model path: letterbox, decode + NMS, masks, tiling, F1."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pydantic import ValidationError

from inspection.domain.tiling import TilingOptions, tile_windows
from inspection.domain.types import polygon_area
from inspection.inference.yolo import PAD_VALUE, Letterbox, RawDetections, decode, letterbox_into, mask_polygons
from training.export import f1_score


def test_letterbox_keeps_aspect_pads_grey_and_swaps_to_rgb() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :, 0] = 255  # blue in BGR
    out = np.empty((3, 64, 64), np.float32)
    box = letterbox_into(image, out)
    assert box.ratio == pytest.approx(0.32)
    assert (box.pad_x, box.pad_y) == (0.0, 16.0)
    assert out[:, :16, :] == pytest.approx(PAD_VALUE / 255.0)  # grey band above
    assert out[:, -16:, :] == pytest.approx(PAD_VALUE / 255.0)  # and below
    assert out[2, 16:48, :] == pytest.approx(1.0) and out[0, 16:48, :] == pytest.approx(0.0)  # blue → channel 2


def test_letterbox_accepts_mono() -> None:
    out = np.empty((3, 32, 32), np.float32)
    letterbox_into(np.full((32, 32), 255, np.uint8), out)
    assert out == pytest.approx(1.0)


def _pred(rows: list[tuple[float, float, float, float, float, float]]) -> np.ndarray:
    """(cx, cy, w, h, score_class0, score_class1) per anchor → head layout (6, anchors)."""
    return np.asarray(rows, np.float32).T


def test_decode_thresholds_nms_per_class_and_maps_back_to_the_frame() -> None:
    pred = _pred([
        (32, 32, 10, 10, 0.90, 0.0),  # kept
        (33, 32, 10, 10, 0.80, 0.0),  # same class, overlaps → suppressed
        (33, 32, 10, 10, 0.0, 0.70),  # other class, same place → kept (class-aware)
        (10, 10, 4, 4, 0.02, 0.01),  # below conf
    ])
    box = Letterbox(ratio=0.5, pad_x=0.0, pad_y=8.0, src_h=96, src_w=128)
    dets = decode(pred, 2, box, conf=0.05, iou=0.5, max_det=10)
    assert len(dets) == 2
    assert dets.scores.tolist() == pytest.approx([0.9, 0.7])
    assert dets.classes.tolist() == [0, 1]
    assert dets.boxes[0] == pytest.approx([54, 38, 74, 58])  # ((27, 27, 37, 37) - (0, 8)) / 0.5


def test_decode_respects_max_det() -> None:
    pred = _pred([(i * 20 + 10, 10, 8, 8, 0.5 + i * 0.01, 0.0) for i in range(5)])
    dets = decode(pred, 2, Letterbox(1.0, 0, 0, 200, 200), conf=0.1, iou=0.5, max_det=3)
    assert len(dets) == 3 and dets.scores[0] == pytest.approx(0.54)


def test_mask_polygons_outline_the_mask_inside_the_box() -> None:
    protos = np.full((1, 16, 16), -1.0, np.float32)
    protos[0, 4:8, 4:12] = 1.0  # a 8x4 blob in prototype cells (4 input px each)
    dets = RawDetections(boxes=np.array([[16, 16, 48, 32]], np.float32), scores=np.array([0.9], np.float32),
                         classes=np.array([0]), coefficients=np.array([[1.0]], np.float32),
                         boxes_input=np.array([[16, 16, 48, 32]], np.float32))
    box = Letterbox(1.0, 0.0, 0.0, 64, 64)
    (polygon,) = mask_polygons(dets, protos, box, (64, 64))
    assert polygon is not None
    xs, ys = polygon[:, 0], polygon[:, 1]
    assert xs.min() >= 16 and xs.max() <= 48 and ys.min() >= 16 and ys.max() <= 32
    area = polygon_area(tuple(map(tuple, polygon)))
    assert 0.7 * 32 * 16 < area <= 32 * 16


def test_mask_polygons_none_when_mask_is_empty() -> None:
    protos = np.full((1, 16, 16), -1.0, np.float32)
    dets = RawDetections(np.array([[0, 0, 20, 20]], np.float32), np.array([0.9], np.float32), np.array([0]),
                         np.array([[1.0]], np.float32), np.array([[0, 0, 20, 20]], np.float32))
    assert mask_polygons(dets, protos, Letterbox(1.0, 0, 0, 64, 64), (64, 64)) == [None]


def test_tiles_cover_the_frame_with_overlap() -> None:
    tiling = TilingOptions(tile_px=100, overlap_px=20)
    windows = tile_windows(180, 250, tiling)
    covered = np.zeros((180, 250), bool)
    for x1, y1, x2, y2 in windows:
        assert x2 - x1 <= 100 and y2 - y1 <= 100
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    xs = sorted({w[0] for w in windows})
    assert all(b - a <= 80 for a, b in itertools.pairwise(xs))  # neighbours overlap ≥ 20 px
    assert tile_windows(50, 60, tiling) == [(0, 0, 60, 50)]
    assert tile_windows(50, 60, TilingOptions(tile_px=100, overlap_px=20, include_full=True)) == [(0, 0, 60, 50)]


def test_tiling_overlap_must_be_below_tile() -> None:
    with pytest.raises(ValidationError, match="overlap_px"):
        TilingOptions(tile_px=64, overlap_px=64)


def test_f1_counts_matches_by_class_and_iou() -> None:
    truth = [np.array([[0, 0, 0, 10, 10], [1, 20, 20, 30, 30]], float)]
    found = RawDetections(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.array([0.9, 0.8]),
                          np.array([0, 0]))
    assert f1_score([found], truth) == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))  # one TP, one wrong class
    empty = RawDetections(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, int))
    assert f1_score([empty], [np.zeros((0, 5))]) == 1.0
