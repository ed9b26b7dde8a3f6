"""The AOI board inspection: align → a window per component and pad → checks → golden → Detections per RefDes.

Every Detection it returns carries `attributes["refdes"]` (and `"pin"` for joint windows, `"check"` for
which check fired), so verdicts can be stored and shown per reference designator ("R12 pin 2: short").
Anything that makes the board uninspectable (fiducials not found, a reference of another size, a window
outside the image) raises a `DataError` naming the part: the station turns it into the fail-safe verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from inspection.aoi.align import Alignment, BoardTransform, align_by_fiducials, register_images
from inspection.aoi.checks import body_detections, measure_body
from inspection.aoi.classifier import JointClassifier, load_joint_classifier
from inspection.aoi.golden import GoldenOptions, compare_to_golden, match_lighting
from inspection.aoi.library import PackageLibrary, load_library
from inspection.aoi.placement import PlacementList, load_placements
from inspection.aoi.windows import Window, component_windows, crop
from inspection.config import ConfigPath, StrictModel
from inspection.domain.types import Box, Detection
from inspection.errors import ConfigError, DataError

__all__ = ["BoardInspector", "BoardOptions", "BoardResult", "ClassifierOptions", "FiducialOptions",
           "GoldenReference", "InspectorOptions"]

BODY_CLASSES = ("missing_component", "offset", "rotated")

MIN_CONTRAST = 2.0
"""Grey-level standard deviation below which a frame is blank (a real board has edges, text, pads)."""


class BoardOptions(StrictModel):
    """Where the board sits in the image when nothing else is known (and where fiducials are searched)."""

    px_per_mm: float = Field(gt=0.0)
    origin_px: tuple[float, float] = Field(description="image pixel of the board's (0, 0) in CAD coordinates")
    y_up: bool = Field(True, description="CAD y grows upwards (image y grows downwards)")
    mirror_x: bool = Field(False, description="the camera sees the bottom side: board x runs right to left")


class FiducialOptions(StrictModel):
    search_radius_mm: float = Field(2.0, gt=0.0)
    min_score: float = Field(0.6, gt=0.0, le=1.0)
    model: Literal["similarity", "affine"] = "similarity"
    max_residual_px: float = Field(3.0, gt=0.0)


class ClassifierOptions(StrictModel):
    enabled: bool = True
    model: ConfigPath | None = Field(None, description="joint classifier head (.pt); empty = the shipped one")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    threads: int | None = Field(None, ge=1, le=64, description="torch threads (process-wide!); empty = leave as is")


class GoldenReference(GoldenOptions):
    reference: ConfigPath = Field(description="image of a defect-free board, same camera and resolution")


class InspectorOptions(StrictModel):
    placements: ConfigPath
    library: ConfigPath
    units: Literal["mm", "mil", "inch"] | None = Field(None, description="placement units where the file has none")
    side: Literal["top", "bottom"] = "top"
    board: BoardOptions
    align: Literal["fiducials", "features", "nominal"] = "fiducials"
    fiducials: FiducialOptions = FiducialOptions()
    classifier: ClassifierOptions = ClassifierOptions()
    golden: GoldenReference | None = None


@dataclass(frozen=True)
class BoardResult:
    detections: tuple[Detection, ...]
    alignment: Alignment
    windows: tuple[Window, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def by_refdes(self) -> dict[str, list[Detection]]:
        out: dict[str, list[Detection]] = {}
        for d in self.detections:
            out.setdefault(d.attributes.get("refdes", "(board)"), []).append(d)
        return out


class BoardInspector:
    """Built once per product (placement list + library + reference); `inspect(image)` per board."""

    def __init__(self, options: InspectorOptions, classifier: JointClassifier | None = None) -> None:
        self.options = options
        self.placements: PlacementList = load_placements(options.placements, options.units)
        self.library: PackageLibrary = load_library(options.library)
        self.packages = self.library.resolve(self.placements)
        self.components = [p for p in self.placements.on_side(options.side)
                           if self.packages[p.refdes].fiducial is None]
        self.fiducials = self.library.fiducials(self.placements, options.side)
        board = options.board
        self.nominal = BoardTransform.nominal(board.px_per_mm, board.origin_px, board.y_up, board.mirror_x)
        if options.align == "fiducials" and len(self.fiducials) < 2:
            raise ConfigError(f"{self.placements.source}: align: fiducials needs 2 or 3 fiducial rows on the "
                              f"{options.side} side (found {len(self.fiducials)}); add them or use align: nominal")
        if options.align == "features" and options.golden is None:
            raise ConfigError("align: features registers each board to the golden reference; set golden.reference")
        wants_joints = any("joints" in self.packages[p.refdes].checks for p in self.components)
        self.classifier = classifier
        if self.classifier is None and options.classifier.enabled and wants_joints:
            self.classifier = load_joint_classifier(options.classifier.model, options.classifier.threads)
        self.reference: np.ndarray | None = None
        self.reference_alignment: Alignment | None = None
        if options.golden is not None:
            self.reference = _read_reference(options.golden.reference)
            # The golden board is aligned like any board, once, so frame→reference is known per board.
            self.reference_alignment = self._align(self.reference, for_reference=True)

    @property
    def class_names(self) -> tuple[str, ...]:
        joints = tuple(c for c in (self.classifier.class_names if self.classifier else ())
                       if c != (self.classifier.normal_class if self.classifier else "normal"))
        golden = (self.options.golden.class_name,) if self.options.golden is not None else ()
        return (*BODY_CLASSES, *joints, *golden)

    # --- per board -----------------------------------------------------------------------------

    def inspect(self, image: np.ndarray) -> BoardResult:
        t0 = time.perf_counter()
        if self.reference is not None and image.shape[:2] != self.reference.shape[:2]:
            raise DataError(f"reference image {self.options.golden.reference} is "  # type: ignore[union-attr]
                            f"{self.reference.shape[1]}x{self.reference.shape[0]} px but the frame is "
                            f"{image.shape[1]}x{image.shape[0]} px: capture the golden board with the line's "
                            f"camera, resolution and ROI")
        _, spread = cv2.meanStdDev(image)
        if float(spread.max()) < MIN_CONTRAST:  # a blank frame: with nominal alignment and joint checks only,
            # every crop is flat and reads "normal" — a board nobody saw would pass
            raise DataError(f"the frame has no contrast (grey spread {float(spread.max()):.2f}): blank, covered "
                            "or overexposed, not a board; check the camera and the lighting")
        alignment = self._align(image)
        t_align = time.perf_counter()
        windows = self._windows(alignment.transform, image.shape)
        # Body grey ranges are taught on the golden board: bring this board's lighting to it first.
        checked = match_lighting(image, self.reference) if self.reference is not None else image
        detections = self._body_checks(checked, windows, alignment.transform.scale_px_per_mm)
        t_body = time.perf_counter()
        detections += self._joint_checks(image, windows)
        t_joint = time.perf_counter()
        detections += self._golden(image, alignment, windows)
        t_golden = time.perf_counter()
        timings = {"align_ms": (t_align - t0) * 1e3, "body_ms": (t_body - t_align) * 1e3,
                   "joints_ms": (t_joint - t_body) * 1e3, "golden_ms": (t_golden - t_joint) * 1e3}
        return BoardResult(tuple(detections), alignment, tuple(windows), timings)

    def _align(self, image: np.ndarray, for_reference: bool = False) -> Alignment:
        o = self.options
        if o.align == "fiducials":
            try:
                return align_by_fiducials(image, self.fiducials, self.nominal, o.fiducials.search_radius_mm,
                                          o.fiducials.min_score, o.fiducials.model, o.fiducials.max_residual_px)
            except DataError as exc:
                if for_reference:
                    raise ConfigError(f"golden reference {o.golden.reference}: {exc}") from None  # type: ignore[union-attr]
                raise
        if o.align == "features" and not for_reference:
            assert self.reference is not None and self.reference_alignment is not None
            registration = register_images(image, self.reference, "orb+ecc")
            to_frame = cv2.invertAffineTransform(registration.matrix)
            transform = self.reference_alignment.transform.then(to_frame)
            residual = registration.residual_px or 0.0
            return Alignment(transform, f"features/{registration.method}", residual,
                             residual / transform.scale_px_per_mm)
        return Alignment(self.nominal, "nominal", 0.0, 0.0)

    def _windows(self, transform: BoardTransform, shape: tuple[int, ...]) -> list[Window]:
        h, w = shape[:2]
        windows = []
        for placement in self.components:
            for window in component_windows(placement, self.packages[placement.refdes], transform):
                b = window.box
                if b.x2 < 0 or b.y2 < 0 or b.x1 > w or b.y1 > h:
                    where = f"pin {window.pin}" if window.pin else "body"
                    raise DataError(f"{placement.refdes} {where} (placement line {placement.line}) falls outside "
                                    f"the {w}x{h} image: the board is not where board.origin_px says, or the "
                                    f"placement file belongs to another board")
                windows.append(window)
        return windows

    def _body_checks(self, image: np.ndarray, windows: list[Window], px_per_mm: float) -> list[Detection]:
        out = []
        for window in windows:
            if window.kind != "body" or not {"presence", "offset", "rotation"} & set(window.package.checks):
                continue
            measurement = measure_body(image, window, px_per_mm)
            out += body_detections(measurement, window, _attributes(window))
        return out

    def _joint_checks(self, image: np.ndarray, windows: list[Window]) -> list[Detection]:
        if self.classifier is None:
            return []
        pads = [w for w in windows if w.kind == "pad" and "joints" in w.package.checks]
        crops = [crop(image, w.box) for w in pads]
        for window, c in zip(pads, crops, strict=True):
            if c is None:
                raise DataError(f"{window.refdes} pin {window.pin}: joint window outside the image")
        predictions = self.classifier.predict(crops)  # type: ignore[arg-type]
        out = []
        for window, prediction in zip(pads, predictions, strict=True):
            if prediction.class_name == self.classifier.normal_class:
                continue
            if prediction.confidence < self.options.classifier.min_confidence:
                continue
            out.append(Detection(prediction.class_name, prediction.confidence, window.box, source="aoi",
                                 attributes={**_attributes(window), "check": "joints"}))
        return out

    def _golden(self, image: np.ndarray, alignment: Alignment, windows: list[Window]) -> list[Detection]:
        golden = self.options.golden
        if golden is None or self.reference is None or self.reference_alignment is None:
            return []
        # frame → reference through board coordinates (both aligned the same way), then compare there.
        to_ref = _affine_between(alignment.transform, self.reference_alignment.transform)
        h, w = self.reference.shape[:2]
        warped = cv2.warpAffine(image, to_ref, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        result = compare_to_golden(warped, self.reference, golden.model_copy(update={"registration": "none"}))
        back = cv2.invertAffineTransform(to_ref)
        out = []
        for d in result.detections:
            box = _map_box(d.box, back)
            owner = _owner(box, windows, reach_px=1.0 * alignment.transform.scale_px_per_mm)
            attributes = {**d.attributes, "check": "golden"}
            if owner is not None:
                attributes |= {"refdes": owner.refdes} | ({"pin": owner.pin} if owner.pin else {})
            out.append(Detection(d.class_name, d.confidence, box, source="golden", attributes=attributes))
        return out


def _attributes(window: Window) -> dict[str, str]:
    attributes = {"refdes": window.refdes, "package": window.placement.package}
    if window.pin is not None:
        attributes["pin"] = window.pin
    return attributes


def _affine_between(frame: BoardTransform, reference: BoardTransform) -> np.ndarray:
    """Image affine taking frame pixels to reference pixels: reference ∘ frame⁻¹."""
    f = np.vstack([frame.matrix, [0, 0, 1]])
    r = np.vstack([reference.matrix, [0, 0, 1]])
    return (r @ np.linalg.inv(f))[:2]


def _map_box(box: Box, affine: np.ndarray) -> Box:
    corners = np.array([[box.x1, box.y1], [box.x2, box.y1], [box.x2, box.y2], [box.x1, box.y2]])
    moved = corners @ affine[:, :2].T + affine[:, 2]
    lo, hi = moved.min(axis=0), moved.max(axis=0)
    return Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _owner(box: Box, windows: list[Window], reach_px: float) -> Window | None:
    """The window containing the difference's centre (the smallest: pads before bodies), else the nearest
    window within `reach_px` (a shifted part shows its difference just outside its own window)."""
    cx, cy = box.center

    def distance(w: Window) -> float:
        return float(np.hypot(max(w.box.x1 - cx, 0.0, cx - w.box.x2), max(w.box.y1 - cy, 0.0, cy - w.box.y2)))

    near = [(distance(w), w.box.area, i) for i, w in enumerate(windows) if distance(w) <= reach_px]
    return windows[min(near)[2]] if near else None


def _read_reference(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ConfigError(f"golden.reference {path}: missing or not an image; capture a defect-free board "
                          f"with the line camera and point golden.reference at it")
    return image
