"""Health signals: what the station measures about itself on every part, and the catalogue that says
what each one means.

Image signals come from the frame in the recipe's ROI (its bounding box; the whole frame without one):
sharpness (variance of the Laplacian), brightness (mean grey), contrast (grey standard deviation),
saturated share (grey >= 250), registration offset (centroid of the Laplacian's energy from the ROI
centre, in % of the ROI size: where the AOI path aligns by fiducials its offset is the better source)
and colour (chromaticity). They cost about 0.3 ms of CPU at 320x320 (measured in docs/health.md); larger
ROIs are decimated to about `MAX_PIXELS`.
Model signals come from the inspection: the top detector confidence (its distribution is compared with
the baseline's by the population stability index), the anomaly score, REVIEW and fail-safe rates.
Line and station signals: reject-output time, frame interval jitter, CPU, disk free; and from the
components' health probes (`inspection.health.probe`): the PLC reject write p99 and reconnects, the
telemetry backlog, the station's queue fill and, where the GenICam device exposes it, `DeviceTemperature`.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from inspection.camera.genicam_nodes import device_temperature  # the camera's probe reads it (one implementation)
from inspection.domain.types import Frame, Inspection, VerdictStatus
from inspection.health.kinds import HealthKind

__all__ = ["SIGNALS", "SignalSpec", "device_temperature", "image_signals", "inspection_signals",
           "roi_box", "station_signals"]

LimitMode = Literal["ratio", "delta", "absolute"]


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """One health signal: its unit, which direction is bad (and what that means), and its limit.

    `limit` is engineering tolerance around the baseline: `ratio` → baseline × (1 ∓ limit), `delta` →
    baseline ∓ limit, `absolute` → the limit itself. `drift`: watched by the statistical drift detector
    (False for signals that wander legitimately, like CPU load; they warn only by forecast and limit).
    `log`: drift is detected on the log of the value (multiplicative signals like sharpness)."""

    name: str
    title: str
    unit: str
    low: HealthKind | None  # what a value falling means (None: falling is fine)
    high: HealthKind | None
    limit: float
    mode: LimitMode = "ratio"
    log: bool = False
    drift: bool = True
    lam: float | None = None  # EWMA weight for this signal (None: the monitor's); smaller sees smaller, slower drifts

    def limits(self, baseline: float) -> tuple[float | None, float | None]:
        """(low limit, high limit) in the signal's unit for a baseline value; None where that side is fine."""
        if self.mode == "ratio":
            lo, hi = baseline * (1.0 - self.limit), baseline * (1.0 + self.limit)
        elif self.mode == "delta":
            lo, hi = baseline - self.limit, baseline + self.limit
        else:
            lo = hi = self.limit
        return (lo if self.low is not None else None), (hi if self.high is not None else None)


K = HealthKind
SIGNALS: dict[str, SignalSpec] = {s.name: s for s in (
    SignalSpec("sharpness", "Sharpness", "var(Laplacian)", K.FOCUS, K.APPEARANCE, 0.5, log=True),
    SignalSpec("brightness", "Brightness", "grey level", K.LIGHT, K.EXPOSURE, 0.2),
    SignalSpec("contrast", "Contrast", "grey std", K.LIGHT, K.APPEARANCE, 0.3),
    SignalSpec("saturated", "Saturated share", "share", None, K.EXPOSURE, 0.02, "delta"),
    # Parts vary a lot in layout and colour from one to the next: a slower EWMA narrows the band.
    SignalSpec("offset_x", "Registration x", "% of ROI", K.REGISTRATION, K.REGISTRATION, 3.0, "delta", lam=0.01),
    SignalSpec("offset_y", "Registration y", "% of ROI", K.REGISTRATION, K.REGISTRATION, 3.0, "delta", lam=0.01),
    SignalSpec("colour_r", "Red chromaticity", "r/(r+g+b)", K.APPEARANCE, K.APPEARANCE, 0.03, "delta", lam=0.01),
    SignalSpec("colour_b", "Blue chromaticity", "b/(r+g+b)", K.APPEARANCE, K.APPEARANCE, 0.03, "delta", lam=0.01),
    SignalSpec("top_confidence", "Top confidence", "score", K.MODEL_CONFIDENCE, K.MODEL_CONFIDENCE, 0.15, "delta"),
    SignalSpec("confidence_psi", "Confidence PSI", "PSI", None, K.MODEL_CONFIDENCE, 0.25, "absolute", drift=False),
    SignalSpec("anomaly_score", "Anomaly score", "× threshold", None, K.APPEARANCE, 0.5, "ratio"),
    SignalSpec("review", "Review rate", "share", None, K.REVIEW_RATE, 0.1, "delta"),
    SignalSpec("failsafe", "Fail-safe rate", "share", None, K.ACQUISITION, 0.02, "delta"),
    SignalSpec("frame_jitter_ms", "Frame jitter", "ms", None, K.ACQUISITION, 50.0, "absolute", drift=False),
    SignalSpec("output_ms", "Reject output time", "ms", None, K.LINE_IO, 2.0, "ratio", drift=False),
    # Line I/O and station probes (inspection/health/probe.py), polled every `station_every` parts.
    SignalSpec("output_p99_ms", "Reject output p99", "ms", None, K.LINE_IO, 2.0, "ratio", drift=False),
    SignalSpec("plc_reconnects", "PLC reconnects", "per hour", None, K.LINE_IO, 3.0, "absolute", drift=False),
    SignalSpec("telemetry_backlog", "Telemetry backlog", "share of buffer", None, K.TELEMETRY, 0.5, "absolute",
               drift=False),
    SignalSpec("queue_fill", "Input queue fill", "share", None, K.STATION, 0.75, "absolute", drift=False),
    SignalSpec("record_backlog", "Verdict log backlog", "share", None, K.STATION, 0.5, "absolute", drift=False),
    SignalSpec("cpu_pct", "CPU", "%", None, K.STATION, 95.0, "absolute", drift=False),
    SignalSpec("disk_free_gb", "Disk free", "GB", K.STATION, None, 2.0, "absolute", drift=False),
    SignalSpec("camera_temp_c", "Camera temperature", "°C", None, K.CAMERA_TEMPERATURE, 65.0, "absolute",
               drift=False),
)}
"""The catalogue. Limits are engineering tolerances chosen up front (not fitted to the twin scenarios)."""

_SATURATED = 250


def roi_box(include: list[list[tuple[float, float]]] | None, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixel box around the recipe's include polygons, clipped to the frame."""
    h, w = shape[:2]
    if not include:
        return 0, 0, w, h
    pts = np.asarray([p for poly in include for p in poly], dtype=np.float64)
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError(f"recipe ROI {include} leaves less than 8x8 px of a {w}x{h} frame: health needs an image")
    return int(x0), int(y0), int(x1), int(y1)


MAX_PIXELS = 300_000
"""Above this many ROI pixels the signals are computed on every k-th row and column (no smoothing, so
fine blur still shows), which keeps a megapixel frame near the cost of a 320x320 one."""


def image_signals(image: np.ndarray, box: tuple[int, int, int, int] | None = None,
                  max_pixels: int = MAX_PIXELS) -> dict[str, float]:
    """Sharpness, brightness, contrast, saturated share, registration offset and colour of one image."""
    if box is not None:
        x0, y0, x1, y1 = box
        image = image[y0:y1, x0:x1]
    step = math.ceil(math.sqrt(image.shape[0] * image.shape[1] / max_pixels))
    if step > 1:
        image = np.ascontiguousarray(image[::step, ::step])
    colour = image.ndim == 3
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if colour else image
    mean, std = cv2.meanStdDev(gray)
    lap = cv2.Laplacian(gray, cv2.CV_16S)
    _, lap_std = cv2.meanStdDev(lap)
    energy = cv2.convertScaleAbs(lap)
    h, w = gray.shape
    cols = cv2.reduce(energy, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()  # cheaper than cv2.moments
    rows = cv2.reduce(energy, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    total = float(cols.sum())
    if total > 0:
        off_x = (float(cols @ np.arange(w)) / total - (w - 1) / 2.0) / w * 100.0
        off_y = (float(rows @ np.arange(h)) / total - (h - 1) / 2.0) / h * 100.0
    else:  # a flat image has no texture to locate
        off_x = off_y = 0.0
    _, saturated = cv2.threshold(gray, _SATURATED - 1, 1, cv2.THRESH_BINARY)
    out = {"sharpness": float(lap_std[0, 0]) ** 2, "brightness": float(mean[0, 0]), "contrast": float(std[0, 0]),
           "saturated": cv2.countNonZero(saturated) / gray.size, "offset_x": off_x, "offset_y": off_y}
    if colour:
        b, g, r, _ = cv2.mean(image)
        total = b + g + r
        if total > 0:
            out["colour_r"], out["colour_b"] = r / total, b / total
    return out


def inspection_signals(inspection: Inspection, box: tuple[int, int, int, int] | None = None,
                       previous_timestamp_s: float | None = None, period_s: float | None = None,
                       with_image: bool = True) -> dict[str, float]:
    """Per-part signals from one inspection: image (if a frame), model, verdict and timing signals."""
    out: dict[str, float] = {}
    frame = inspection.frame
    if with_image and isinstance(frame, Frame):
        out.update(image_signals(frame.image, box))
    model = [d.confidence for d in inspection.detections if d.source not in ("anomaly", "label")]
    out["top_confidence"] = float(max(model, default=0.0))
    if inspection.heatmap is not None:
        out["anomaly_score"] = float(inspection.heatmap.max()) / 128.0
    status = inspection.verdict.status
    out["review"] = float(status is VerdictStatus.REVIEW)
    out["failsafe"] = float(inspection.verdict.failsafe)
    if inspection.timings.output_ms > 0:
        out["output_ms"] = float(inspection.timings.output_ms)
    if previous_timestamp_s is not None and period_s is not None:
        out["frame_jitter_ms"] = abs((frame.timestamp_s - previous_timestamp_s) - period_s) * 1000.0
    return out


def station_signals(path: str | os.PathLike[str] = ".") -> dict[str, float]:
    """CPU use (whole machine, since the last call) and free disk under `path`."""
    out = {"disk_free_gb": shutil.disk_usage(path).free / 1e9}
    try:
        import psutil

        out["cpu_pct"] = float(psutil.cpu_percent(interval=None))
    except ImportError:  # psutil is optional: the load average is a fair stand-in
        out["cpu_pct"] = min(100.0, os.getloadavg()[0] / (os.cpu_count() or 1) * 100.0)
    return out


def merge(*parts: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in parts:
        out.update(part)
    return out
