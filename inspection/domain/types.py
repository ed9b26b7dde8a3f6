"""The station's vocabulary: small frozen value types shared by every package.

Everything that travels between stages (camera → detector → judge → outputs) is one of these.
No ultralytics, harvesters or Qt type ever crosses a package boundary; adapters convert at the edge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

__all__ = [
    "Box",
    "Detection",
    "Frame",
    "FrameFailure",
    "Inspection",
    "Reason",
    "StageTimings",
    "Verdict",
    "VerdictStatus",
]


def _readonly_copy(image: np.ndarray) -> np.ndarray:
    """Own the pixels: drivers and decoders reuse their buffers, a Frame must not."""
    owned = np.array(image, copy=True, order="C")
    owned.flags.writeable = False
    return owned


@dataclass(frozen=True, slots=True)
class Frame:
    """One image of one part from one camera.

    `image` is uint8, HxW (mono) or HxWx3 (BGR), copied and read-only. `timestamp_s` is host wall-clock
    time (time.time()) when the frame was received; `device_timestamp_ns` is the camera's own clock
    where it has one. `part_id` is the identity the line gave the part (PLC, barcode) or None, in which
    case the sequence number identifies it.
    """

    image: np.ndarray
    camera_id: str
    sequence: int
    timestamp_s: float
    part_id: str | None = None
    device_timestamp_ns: int | None = None
    source: str | None = None
    pixel_format: str = "bgr8"

    def __post_init__(self) -> None:
        if not isinstance(self.image, np.ndarray):
            raise TypeError(f"Frame.image: expected a numpy array, got {type(self.image).__name__}")
        if self.image.dtype != np.uint8:
            raise ValueError(f"Frame.image: expected dtype uint8, got {self.image.dtype}")
        shape = self.image.shape
        if not (len(shape) == 2 or (len(shape) == 3 and shape[2] == 3)):
            raise ValueError(f"Frame.image: expected HxW (mono) or HxWx3 (BGR), got shape {shape}")
        if shape[0] == 0 or shape[1] == 0:
            raise ValueError(f"Frame.image: expected a non-empty image, got shape {shape}")
        if not self.camera_id:
            raise ValueError("Frame.camera_id: expected a non-empty camera id")
        if self.sequence < 0:
            raise ValueError(f"Frame.sequence: expected >= 0, got {self.sequence}")
        if self.image.flags.writeable or not self.image.flags.c_contiguous:
            object.__setattr__(self, "image", _readonly_copy(self.image))

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def key(self) -> str:
        """The part's identity for logs and the PLC: its part id, else camera + sequence."""
        return self.part_id if self.part_id is not None else f"{self.camera_id}#{self.sequence}"


@dataclass(frozen=True, slots=True)
class FrameFailure:
    """A part that arrived but whose image could not be had (corrupt file, incomplete buffer).

    It travels the pipeline like a Frame so that the part still gets its (fail-safe) verdict.
    """

    camera_id: str
    sequence: int
    timestamp_s: float
    code: str
    message: str
    part_id: str | None = None
    source: str | None = None

    @property
    def key(self) -> str:
        return self.part_id if self.part_id is not None else f"{self.camera_id}#{self.sequence}"


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in pixels, (x1, y1) top-left, (x2, y2) bottom-right."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        values = (self.x1, self.y1, self.x2, self.y2)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"Box: expected finite coordinates, got {values}")
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError(f"Box: expected x2 >= x1 and y2 >= y1, got {values}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


Polygon = tuple[tuple[float, float], ...]


def polygon_area(polygon: Polygon) -> float:
    """Shoelace area of a simple polygon in px²."""
    if len(polygon) < 3:
        return 0.0
    xs = np.asarray([p[0] for p in polygon], dtype=np.float64)
    ys = np.asarray([p[1] for p in polygon], dtype=np.float64)
    return float(abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))) / 2.0)


@dataclass(frozen=True, slots=True)
class Detection:
    """One defect found in a frame, by any detector (YOLO, anomaly model, AOI window check).

    `polygon` is the segmentation outline in pixels where the model gives one. `source` names what
    found it ("detector", "anomaly", "aoi", …) so the judge and reports can tell them apart.
    """

    class_name: str
    confidence: float
    box: Box
    class_id: int = -1
    polygon: Polygon | None = None
    source: str = "detector"
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.class_name:
            raise ValueError("Detection.class_name: expected a non-empty class name")
        if not (0.0 <= self.confidence <= 1.0) or math.isnan(self.confidence):
            raise ValueError(f"Detection.confidence: expected 0..1, got {self.confidence}")
        if self.polygon is not None and len(self.polygon) < 3:
            raise ValueError(f"Detection.polygon: expected >= 3 points, got {len(self.polygon)}")

    @property
    def area_px(self) -> float:
        """Defect area: the mask's area for segmentation, the box area for detection."""
        return polygon_area(self.polygon) if self.polygon is not None else self.box.area

    @property
    def length_px(self) -> float:
        """Defect length: long side of the minimum-area rectangle (mask) or the box's long side."""
        if self.polygon is not None:
            import cv2  # local: keeps the type module light to import

            (_, _), (w, h), _ = cv2.minAreaRect(np.asarray(self.polygon, dtype=np.float32))
            return float(max(w, h))
        return max(self.box.width, self.box.height)


class VerdictStatus(StrEnum):
    """PASS: good part. FAIL: defect found. ERROR: could not be inspected (fail-safe: rejected).
    REVIEW: recipe asks a person to decide (treated as a reject by the line)."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    REVIEW = "REVIEW"

    @property
    def rejects(self) -> bool:
        return self is not VerdictStatus.PASS


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a verdict is what it is. `code` is stable for machines (PLC error codes, statistics)."""

    code: str
    message: str
    class_name: str | None = None

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("Reason.code: expected a non-empty code")


@dataclass(frozen=True, slots=True)
class Verdict:
    status: VerdictStatus
    reasons: tuple[Reason, ...] = ()
    failsafe: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.status, VerdictStatus):
            object.__setattr__(self, "status", VerdictStatus(self.status))
        if self.status is not VerdictStatus.PASS and not self.reasons:
            raise ValueError(f"Verdict: a {self.status} verdict needs at least one reason")

    @classmethod
    def passed(cls) -> Verdict:
        return cls(VerdictStatus.PASS)

    @classmethod
    def error(cls, code: str, message: str) -> Verdict:
        """The fail-safe verdict for a part that could not be inspected."""
        return cls(VerdictStatus.ERROR, (Reason(code, message),), failsafe=True)

    @property
    def summary(self) -> str:
        if not self.reasons:
            return str(self.status)
        return f"{self.status}: " + "; ".join(r.message for r in self.reasons)


STAGES = ("acquire", "preprocess", "infer", "postprocess", "judge", "output")


@dataclass(frozen=True, slots=True)
class StageTimings:
    """Milliseconds spent in each stage for one part, plus end-to-end frame→verdict latency."""

    acquire_ms: float = 0.0
    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    postprocess_ms: float = 0.0
    judge_ms: float = 0.0
    output_ms: float = 0.0
    latency_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {f"{s}_ms": getattr(self, f"{s}_ms") for s in STAGES} | {"latency_ms": self.latency_ms}


@dataclass(frozen=True, slots=True)
class Inspection:
    """The complete record of one inspected part: what was seen, what was found, what was decided.

    `detections` is everything the models reported; `defects` the subset the recipe counted.
    `model_id` names the model (file hash) that made the verdict. `heatmap`, from an anomaly model only, is
    a small read-only uint8 map of the whole frame (128 = the model's threshold, 255 = twice it; see
    `inspection.anomaly.overlay`), for display and the image archive; None otherwise."""

    frame: Frame | FrameFailure
    detections: tuple[Detection, ...]
    verdict: Verdict
    defects: tuple[Detection, ...] = ()
    timings: StageTimings = StageTimings()
    recipe: str = ""
    model_id: str = ""
    heatmap: np.ndarray | None = None

    def __post_init__(self) -> None:
        heat = self.heatmap
        if heat is None:
            return
        if not isinstance(heat, np.ndarray) or heat.dtype != np.uint8 or heat.ndim != 2 or heat.size == 0:
            got = f"{heat.dtype} {heat.shape}" if isinstance(heat, np.ndarray) else type(heat).__name__
            raise ValueError(f"Inspection.heatmap: expected a non-empty 2-D uint8 array, got {got}")
        if heat.flags.writeable or not heat.flags.c_contiguous:
            object.__setattr__(self, "heatmap", _readonly_copy(heat))
