"""Tiling for small defects on large images: overlapping tiles, detections merged with NMS.

A 4000-px board shrunk to a 640-px network input loses a 10-px solder ball; cut into overlapping
tiles at (about) network resolution it stays visible. Each tile goes through the same letterbox /
decode path as a whole frame; tile detections are shifted into frame pixels and merged with a
class-aware NMS, so a defect seen by two overlapping tiles is reported once.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from inspection.config import StrictModel

__all__ = ["TilingOptions", "tile_windows"]


class TilingOptions(StrictModel):
    """Recipe `tiling:` section (optional)."""

    tile_px: int = Field(640, ge=32, description="tile side in frame pixels")
    overlap_px: int = Field(64, ge=0, description="overlap between neighbouring tiles; ≥ the largest defect")
    include_full: bool = Field(False, description="also run the whole frame (large defects across tiles)")
    merge_iou: float = Field(0.5, gt=0.0, le=1.0, description="NMS IoU for merging tile detections")

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
