"""Golden-board comparison: align the inspected image to a defect-free reference and flag what differs.

Tolerances, in the order they act:
- lighting: the test image's grey levels are mapped onto the reference's (gain and offset from the
  median and 99th percentile), so a brighter lamp or a longer exposure is not a defect;
- misregistration: a pixel only differs when it lies outside the reference's local min..max within
  `tolerance_px` (and the reference outside the test's, both ways), so edges shifted by a pixel or two
  cancel out — the classic AOI "tolerance window";
- noise: a small blur first, then a morphological opening (drops specks) and closing (joins a broken
  defect into one region), then a minimum region area.
Each remaining region becomes a `Detection(class_name="difference", source="golden")`, with
`attributes["polarity"]` = `extra` (test brighter: extra copper/solder) or `missing` (test darker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from inspection.aoi.align import Registration, register_images
from inspection.config import StrictModel
from inspection.domain.types import Box, Detection
from inspection.errors import DataError

__all__ = ["GoldenOptions", "GoldenResult", "compare_to_golden", "confirm_with_golden", "difference_map",
           "match_lighting"]


class GoldenOptions(StrictModel):
    registration: Literal["none", "orb", "ecc", "orb+ecc"] = Field(
        "none", description="align the image to the reference first (none: already aligned, e.g. by fiducials)")
    normalize_lighting: bool = True
    blur_sigma_px: float = Field(1.0, ge=0.0)
    tolerance_px: int = Field(2, ge=0, le=15, description="misregistration tolerated (local min/max window radius)")
    threshold: int = Field(60, ge=1, le=255, description="grey levels outside the tolerance band that count")
    open_px: int = Field(1, ge=0, le=10)
    close_px: int = Field(3, ge=0, le=20)
    min_area_px: int = Field(20, ge=1)
    border_px: int = Field(4, ge=0, description="ignore this frame border (warping leaves empty edges)")
    sliver_aspect: float | None = Field(
        None, gt=1.0, description="drop long thin regions (length ≥ this × width, width ≤ 2·tolerance+3 px): "
                                  "an edge shifted a little more than the tolerance, not a defect; empty = keep")
    class_name: str = "difference"


@dataclass(frozen=True)
class GoldenResult:
    detections: tuple[Detection, ...]
    difference: np.ndarray  # uint8, how far each pixel lies outside the tolerance band
    mask: np.ndarray  # uint8 0/255 after cleanup
    registration: Registration | None = None


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def match_lighting(test: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`test` grey levels mapped onto `reference`'s (2nd/98th percentiles), as uint8."""
    return np.clip(_match_lighting(_gray(test), _gray(reference)), 0, 255).astype(np.uint8)


def _match_lighting(test: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Gain and offset from the median (the bare board dominates) and the 99th percentile (copper): a
    missing or extra part barely moves either, unlike the darkest percentiles."""
    for q in ((50, 99), (2, 98)):
        t_lo, t_hi = np.percentile(test, q)
        r_lo, r_hi = np.percentile(reference, q)
        if t_hi - t_lo >= 10 and r_hi - r_lo >= 10:
            break
    else:
        return test.astype(np.float32)
    gain = (r_hi - r_lo) / (t_hi - t_lo)
    return (test.astype(np.float32) - t_lo) * gain + r_lo


def difference_map(test: np.ndarray, reference: np.ndarray, options: GoldenOptions) -> np.ndarray:
    """How many grey levels each pixel lies outside the other image's local min..max (both directions)."""
    ref = reference.astype(np.float32)
    tst = _match_lighting(test, reference) if options.normalize_lighting else test.astype(np.float32)
    if options.blur_sigma_px > 0:
        ref = cv2.GaussianBlur(ref, (0, 0), options.blur_sigma_px)
        tst = cv2.GaussianBlur(tst, (0, 0), options.blur_sigma_px)
    k = 2 * options.tolerance_px + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    r_max, r_min = cv2.dilate(ref, kernel), cv2.erode(ref, kernel)
    t_max, t_min = cv2.dilate(tst, kernel), cv2.erode(tst, kernel)
    extra = np.maximum(tst - r_max, r_min - tst)  # test pixel unlike anything near it in the reference
    missing = np.maximum(ref - t_max, t_min - ref)  # reference pixel unlike anything near it in the test
    diff = np.maximum(np.maximum(extra, missing), 0)
    return np.clip(diff, 0, 255).astype(np.uint8)


def compare_to_golden(test: np.ndarray, reference: np.ndarray, options: GoldenOptions = GoldenOptions()
                      ) -> GoldenResult:
    """Difference regions of `test` against `reference`, in `test` pixel coordinates."""
    if test.shape[:2] != reference.shape[:2]:
        raise DataError(f"reference image is {reference.shape[1]}x{reference.shape[0]} px but the frame is "
                        f"{test.shape[1]}x{test.shape[0]} px: capture the golden board with the same camera, "
                        f"resolution and ROI as the line")
    t, r = _gray(test), _gray(reference)
    registration = None
    warp_back = None
    if options.registration != "none":
        registration = register_images(t, r, options.registration)
        h, w = r.shape
        t = cv2.warpAffine(t, registration.matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warp_back = cv2.invertAffineTransform(registration.matrix)
    diff = difference_map(t, r, options)
    raw = (diff >= options.threshold).astype(np.uint8) * 255
    mask = _cleanup(raw, options)
    levelled = _match_lighting(t, r) if options.normalize_lighting else t.astype(np.float32)
    signed = cv2.GaussianBlur(levelled - r.astype(np.float32), (0, 0), 1.0)
    detections = _regions(mask, diff, signed, options, warp_back)
    return GoldenResult(detections, diff, mask, registration)


def _cleanup(mask: np.ndarray, options: GoldenOptions) -> np.ndarray:
    if options.open_px:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * options.open_px + 1,) * 2)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
    if options.close_px:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * options.close_px + 1,) * 2)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k)
    if options.border_px:
        b = options.border_px
        mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = 0, 0, 0, 0
    return mask


def _regions(mask: np.ndarray, diff: np.ndarray, signed: np.ndarray, options: GoldenOptions,
             warp_back: np.ndarray | None) -> tuple[Detection, ...]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < options.min_area_px:
            continue
        if options.sliver_aspect is not None and _is_sliver(labels[y:y + h, x:x + w] == i, options):
            continue
        region = labels == i
        peak = float(diff[region].max())
        polarity = "extra" if float(signed[region].mean()) > 0 else "missing"
        # Anything past the threshold gets ≥ 0.5; a full-scale difference 1.0.
        confidence = float(np.clip(0.5 + 0.5 * (peak - options.threshold) / max(1, 255 - options.threshold),
                                   0.0, 1.0))
        box = _box_back(x, y, x + w, y + h, warp_back, mask.shape)
        out.append(Detection(options.class_name, confidence, box, source="golden",
                             attributes={"polarity": polarity, "area_px": str(area), "peak": f"{peak:.0f}"}))
    return tuple(out)


def _is_sliver(region: np.ndarray, options: GoldenOptions) -> bool:
    points = np.column_stack(np.nonzero(region)[::-1]).astype(np.float32)
    (_, _), (a, b), _ = cv2.minAreaRect(points)
    length, width = max(a, b), max(1.0, min(a, b))
    return length >= options.sliver_aspect * width and width <= 2 * options.tolerance_px + 3  # type: ignore[operator]


def _box_back(x1: float, y1: float, x2: float, y2: float, warp_back: np.ndarray | None,
              shape: tuple[int, ...]) -> Box:
    if warp_back is None:
        return Box(float(x1), float(y1), float(x2), float(y2))
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64) @ warp_back[:, :2].T + warp_back[:, 2]
    lo = np.clip(corners.min(axis=0), 0, None)
    hi = np.maximum(np.minimum(corners.max(axis=0), [shape[1], shape[0]]), lo)
    return Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _overlaps(a: Box, b: Box, margin_px: float) -> bool:
    return not (a.x2 + margin_px < b.x1 or b.x2 + margin_px < a.x1 or a.y2 + margin_px < b.y1
                or b.y2 + margin_px < a.y1)


def confirm_with_golden(detections: tuple[Detection, ...], golden: tuple[Detection, ...],
                        margin_px: float = 4.0) -> tuple[Detection, ...]:
    """Mark detector/classifier findings that a golden difference overlaps (`attributes["golden"]`)."""
    out = []
    for d in detections:
        confirmed = any(_overlaps(d.box, g.box, margin_px) for g in golden)
        out.append(Detection(d.class_name, d.confidence, d.box, d.class_id, d.polygon, d.source,
                             {**d.attributes, "golden": "confirmed" if confirmed else "unconfirmed"}))
    return tuple(out)
