"""Per-window checks on the body window: presence, offset and rotation, by segmenting the body.

The body is segmented inside a search region around where it should be (grey threshold taught per package
in the library, else Otsu), the blob that best covers the expected rectangle is taken, and its minimum-area
rectangle gives the centre and angle. A blob much smaller than the body (or only bare board, seen as one
huge region) means the part is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.aoi.windows import Window
from inspection.domain.types import Box, Detection

__all__ = ["BodyMeasurement", "body_detections", "measure_body"]

MAX_FILL = 2.0  # a "body" twice the expected area is board, not the part


@dataclass(frozen=True, slots=True)
class BodyMeasurement:
    found: bool
    fill: float  # share of the expected body area covered by the chosen blob
    offset_mm: float = 0.0
    rotation_error_deg: float = 0.0
    centre_px: tuple[float, float] | None = None
    note: str = ""


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _fold(angle: float, period: float) -> float:
    """Angle difference folded into (-period/2, period/2]."""
    return float((angle + period / 2.0) % period - period / 2.0)


def measure_body(image: np.ndarray, window: Window, px_per_mm: float) -> BodyMeasurement:
    package, body = window.package, window.package.body
    assert body is not None
    gray = _gray(image)
    h, w = gray.shape
    reach = package.offset_mm * 2.0 * px_per_mm + 0.25 * max(window.size_px)
    x1, y1 = int(max(0, window.box.x1 - reach)), int(max(0, window.box.y1 - reach))
    x2, y2 = int(min(w, window.box.x2 + reach)), int(min(h, window.box.y2 + reach))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return BodyMeasurement(False, 0.0, note="body window lies outside the image")
    region = gray[y1:y2, x1:x2]
    if body.gray is not None:
        mask = (region >= body.gray[0]) & (region <= body.gray[1])
    else:
        threshold, _ = cv2.threshold(region, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        mask = (region < threshold) if body.polarity == "dark" else (region > threshold)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    expected = np.zeros_like(mask)
    cv2.fillPoly(expected, [np.round(window.polygon - [x1, y1]).astype(np.int32)], 1)
    expected_area = float(max(1, expected.sum()))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return BodyMeasurement(False, 0.0, note="nothing body-coloured in the window")
    # The blob that overlaps the expected body most; a part shifted off its window entirely is the blob
    # nearest the expected centre. `fill` is its area against the body's (a shifted body keeps its area).
    overlaps = [float(((labels == i) & (expected > 0)).sum()) for i in range(1, n)]
    if max(overlaps) > 0:
        best = int(np.argmax(overlaps)) + 1
    else:
        centre = np.array(window.centre_px) - [x1, y1]
        best = int(np.argmin(np.hypot(*(centroids[1:] - centre).T))) + 1
    blob_area = float(stats[best, cv2.CC_STAT_AREA])
    fill = min(blob_area, expected_area) / expected_area
    if blob_area > MAX_FILL * expected_area:
        return BodyMeasurement(False, fill, note=f"no body-shaped region (largest is {blob_area / expected_area:.1f}"
                                                 f"× the body: bare board?)")
    if fill < package.min_fill:
        return BodyMeasurement(False, fill, note=f"body-coloured region is {fill:.0%} of the body's area "
                                                 f"(< {package.min_fill:.0%})")
    points = np.column_stack(np.nonzero(labels == best)[::-1]).astype(np.float32)
    (cx, cy), (rw, rh), angle = cv2.minAreaRect(points)
    centre = (cx + x1, cy + y1)
    offset_px = float(np.hypot(centre[0] - window.centre_px[0], centre[1] - window.centre_px[1]))
    long_axis = angle if rw >= rh else angle + 90.0
    expected_long = window.angle_deg if window.size_px[0] >= window.size_px[1] else window.angle_deg + 90.0
    square = abs(window.size_px[0] - window.size_px[1]) < 0.15 * max(window.size_px)
    period = min(float(package.symmetric), 90.0 if square else 180.0)
    rotation_error = _fold(long_axis - expected_long, period)
    return BodyMeasurement(True, fill, offset_px / px_per_mm, rotation_error, centre)


def body_detections(measurement: BodyMeasurement, window: Window, attributes: dict[str, str]) -> list[Detection]:
    """Detections for the checks the package asks for; an empty list when the body is fine."""
    package = window.package
    checks = set(package.checks)
    box = window.box
    if not measurement.found:
        if "presence" not in checks:
            return []
        conf = float(np.clip(1.0 - measurement.fill, 0.5, 1.0))
        return [Detection("missing_component", conf, box, source="aoi",
                          attributes={**attributes, "check": "presence", "detail": measurement.note})]
    out = []
    if "offset" in checks and measurement.offset_mm > package.offset_mm:
        excess = (measurement.offset_mm - package.offset_mm) / package.offset_mm
        cx, cy = measurement.centre_px or window.centre_px
        shifted = Box(min(box.x1, cx), min(box.y1, cy), max(box.x2, cx), max(box.y2, cy))
        out.append(Detection("offset", float(np.clip(0.5 + excess / 2, 0.5, 1.0)), shifted, source="aoi",
                             attributes={**attributes, "check": "offset",
                                         "detail": f"{measurement.offset_mm:.2f} mm > {package.offset_mm} mm"}))
    if "rotation" in checks and abs(measurement.rotation_error_deg) > package.rotation_deg:
        excess = (abs(measurement.rotation_error_deg) - package.rotation_deg) / package.rotation_deg
        out.append(Detection("rotated", float(np.clip(0.5 + excess / 2, 0.5, 1.0)), box, source="aoi",
                             attributes={**attributes, "check": "rotation",
                                         "detail": f"{measurement.rotation_error_deg:+.1f}° (limit "
                                                   f"±{package.rotation_deg}°)"}))
    return out
