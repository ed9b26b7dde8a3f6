"""Tiling for small defects on large images: overlapping tiles, detections merged as SAHI does.

A 4000-px board shrunk to a 640-px network input loses a 10-px solder ball; cut into overlapping
tiles at (about) network resolution it stays visible. Each tile goes through the same letterbox /
decode path as a whole frame; tile detections are shifted into frame pixels and merged.

Why not plain NMS: a defect cut by a tile edge is seen whole by one tile and as a sliver by its
neighbour. The sliver's IoU with the whole box is small (a 10-px sliver of a 40-px scratch: IoU 0.25),
so NMS keeps both and the part counts two defects. SAHI (Akyon et al. 2022) matches by intersection
over the *smaller* box (IoS: the sliver lies inside the whole box, IoS 1.0) and merges each group
greedily into the union box with the best score (greedy non-maximum merging), which `merge_detections`
does; `merge: iou` keeps the plain NMS of before.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from inspection.config import StrictModel

__all__ = ["TilingOptions", "intersection_over_smaller", "merge_detections", "tile_windows"]


class TilingOptions(StrictModel):
    """Recipe `tiling:` section (optional)."""

    tile_px: int = Field(640, ge=32, description="tile side in frame pixels")
    overlap_px: int = Field(64, ge=0, description="overlap between neighbouring tiles; ≥ the largest defect")
    include_full: bool = Field(False, description="also run the whole frame (large defects across tiles)")
    merge: Literal["ios", "iou"] = Field(
        "ios", description="how tile detections of one class are matched: ios = intersection over the smaller "
        "box, matches merged into their union (SAHI; a defect cut by a tile edge counts once); iou = plain NMS")
    merge_iou: float = Field(0.5, gt=0.0, le=1.0, description="overlap (IoS or IoU, see merge) at which two "
                             "tile detections are one defect")

    @model_validator(mode="after")
    def _overlap_below_tile(self) -> TilingOptions:
        if self.overlap_px >= self.tile_px:
            raise ValueError(f"overlap_px ({self.overlap_px}) must be smaller than tile_px ({self.tile_px})")
        return self


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)  # last tile flush with the edge: no thin leftover strip
    return sorted(set(starts))


def tile_windows(height: int, width: int, tiling: TilingOptions) -> list[tuple[int, int, int, int]]:
    """(x1, y1, x2, y2) windows covering the frame; the whole frame first when `include_full`."""
    windows = [(0, 0, width, height)] if tiling.include_full else []
    tile = tiling.tile_px
    for y in _starts(height, tile, tiling.overlap_px):
        for x in _starts(width, tile, tiling.overlap_px):
            window = (x, y, min(x + tile, width), min(y + tile, height))
            if window not in windows:
                windows.append(window)
    return windows


def intersection_over_smaller(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection area over the smaller of the two areas, for `box` (4,) against `boxes` (N×4, x1y1x2y2)."""
    w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    area = max(float((box[2] - box[0]) * (box[3] - box[1])), 0.0)
    areas = np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 0, None)
    return w * h / np.maximum(np.minimum(area, areas), 1e-9)


def merge_detections(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float,
                     max_det: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Greedy non-maximum merging by IoS, per class (SAHI's GREEDYNMM with match_metric IOS).

    Best score first: every not yet taken detection of the same class whose IoS with the group's box
    reaches `threshold` joins the group, and the group's box (the union) grows until no more join; unlike
    SAHI, which matches against the leader only, this also catches a cut defect whose leader is a sliver
    (equal scores) that does not touch the far piece. Returns the merged boxes (union of each group, G×4) and the
    groups (index arrays into the input, each led by its best-scoring member), best group first; the
    group's score is its leader's."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    taken = np.zeros(len(order), dtype=bool)
    merged, groups = [], []
    for rank, i in enumerate(order):
        if taken[rank] or len(groups) >= max_det:
            continue
        rest = order[rank:][~taken[rank:]]
        rest = rest[classes[rest] == classes[i]]
        union, count = boxes[i].astype(np.float64), 0
        while True:  # match against the group's union, so the far piece of a cut defect joins too
            members = rest[intersection_over_smaller(union, boxes[rest]) >= threshold]
            members = np.concatenate([[i], members[members != i]]).astype(np.int64)
            group = boxes[members]
            union = np.array([group[:, 0].min(), group[:, 1].min(), group[:, 2].max(), group[:, 3].max()])
            if len(members) == count:
                break
            count = len(members)
        taken[np.isin(order, members)] = True
        merged.append(union)
        groups.append(members)
    return np.asarray(merged, dtype=np.float32).reshape(-1, 4), groups
