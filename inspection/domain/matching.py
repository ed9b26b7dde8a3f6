"""IoU and detection ↔ truth matching: the one definition evaluation, export checks and benches use.

Boxes are xyxy float arrays (N×4) in pixels. Matching is greedy by descending score: each prediction
takes the unmatched truth box it overlaps most, if that overlap reaches `iou_min` (the rule of
ultralytics' and COCO's matchers at one IoU threshold).
"""

from __future__ import annotations

import numpy as np

from inspection.domain.types import Box

__all__ = ["box_iou", "f1", "greedy_match", "iou"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a) × len(b)) of two sets of xyxy boxes.

    Degenerate boxes (zero area, e.g. clipped at the image border) overlap only an identical box."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    same = np.all(np.isclose(a[:, None, :], b[None, :, :], atol=1e-3), axis=2)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), same.astype(np.float64)).astype(np.float32)


def iou(a: Box, b: Box) -> float:
    """IoU of two core `Box`es."""
    return float(box_iou(np.array([[a.x1, a.y1, a.x2, a.y2]]), np.array([[b.x1, b.y1, b.x2, b.y2]]))[0, 0])


def greedy_match(pred_boxes: np.ndarray, pred_scores: np.ndarray, pred_classes: np.ndarray | None,
                 truth_boxes: np.ndarray, truth_classes: np.ndarray | None, iou_min: float) -> np.ndarray:
    """Index of the matched truth box per prediction (-1 if none). Classes None = any class matches."""
    matched = np.full(len(pred_scores), -1, np.int64)
    if len(truth_boxes) == 0 or len(pred_scores) == 0:
        return matched
    overlap = box_iou(pred_boxes, truth_boxes)
    if pred_classes is not None and truth_classes is not None:
        overlap = np.where(np.asarray(pred_classes)[:, None] == np.asarray(truth_classes)[None, :], overlap, 0.0)
    taken = np.zeros(len(truth_boxes), bool)
    for p in np.argsort(-np.asarray(pred_scores), kind="stable"):
        candidates = np.where(~taken & (overlap[p] >= iou_min), overlap[p], -1.0)
        best = int(np.argmax(candidates))
        if candidates[best] >= iou_min:
            matched[p], taken[best] = best, True
    return matched


def f1(tp: int, fp: int, fn: int) -> float:
    """Detection F1; 1.0 when there was nothing to find and nothing was found."""
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
