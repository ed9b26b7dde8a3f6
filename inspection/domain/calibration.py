"""Camera calibration: intrinsics, distortion and millimetres per pixel on the part plane.

A calibration is computed from images of a standard OpenCV target (chessboard or ChArUco): OpenCV's
`calibrateCamera` gives the camera matrix, the distortion and the RMS reprojection error; one view taken
with the target lying on the part plane (the *plane view*, the first image unless told otherwise) gives the
homography from undistorted pixels to millimetres on that plane, hence the scale in mm per pixel.

Calibrations are versioned files, never overwritten: `<calibration_dir>/<camera_id>/calibration-<UTC>.json`.
The newest file of a camera is its calibration; older ones stay as the record of what was used when.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from inspection.errors import ConfigError, DataError

__all__ = [
    "Calibration",
    "CalibrationError",
    "TargetSpec",
    "calibrate",
    "calibration_files",
    "find_target",
    "latest_calibration",
    "load_calibration",
    "save_calibration",
]

FILE_PREFIX = "calibration-"
MIN_VIEWS = 3


class CalibrationError(ConfigError):
    """No usable calibration: missing, too old, or the target was not found in enough images."""


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """The printed target. `cols` × `rows` are *squares* (a chessboard of 10×7 squares has 9×6 inner corners).

    `marker_mm` and `dictionary` are for ChArUco only (an `cv2.aruco.DICT_*` name)."""

    kind: Literal["chessboard", "charuco"]
    cols: int
    rows: int
    square_mm: float
    marker_mm: float | None = None
    dictionary: str = "DICT_5X5_100"

    def __post_init__(self) -> None:
        if self.kind not in ("chessboard", "charuco"):
            raise ValueError(f"TargetSpec.kind: expected 'chessboard' or 'charuco', got {self.kind!r}")
        if self.cols < 3 or self.rows < 3:
            raise ValueError(f"TargetSpec: expected at least 3×3 squares, got {self.cols}×{self.rows}")
        if not (self.square_mm > 0 and math.isfinite(self.square_mm)):
            raise ValueError(f"TargetSpec.square_mm: expected > 0, got {self.square_mm}")
        if self.kind == "charuco":
            if self.marker_mm is None or not (0 < self.marker_mm < self.square_mm):
                raise ValueError(f"TargetSpec.marker_mm: a ChArUco target needs 0 < marker_mm < square_mm "
                                 f"({self.square_mm}), got {self.marker_mm}")
            if not hasattr(cv2.aruco, self.dictionary):
                raise ValueError(f"TargetSpec.dictionary: unknown ArUco dictionary {self.dictionary!r} "
                                 f"(expected a cv2.aruco.DICT_* name such as DICT_5X5_100)")

    def charuco_board(self) -> Any:
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard((self.cols, self.rows), self.square_mm, self.marker_mm, dictionary)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "cols": self.cols, "rows": self.rows, "square_mm": self.square_mm,
                "marker_mm": self.marker_mm, "dictionary": self.dictionary}


@dataclass(frozen=True)
class Calibration:
    """One calibration of one camera. Arrays are float64 and read-only.

    `plane_homography` maps *undistorted* pixels to millimetres on the part plane; `mm_per_px` is its
    linear scale at the image centre (for display and for limits given in pixels)."""

    camera_id: str
    created: str  # ISO 8601, UTC
    image_size: tuple[int, int]  # (width, height)
    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    plane_homography: np.ndarray
    mm_per_px: float
    reprojection_error_px: float
    views: int
    target: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    path: Path | None = None

    def __post_init__(self) -> None:
        if not self.camera_id:
            raise ValueError("Calibration.camera_id: expected a non-empty camera id")
        for name, shape in (("camera_matrix", (3, 3)), ("plane_homography", (3, 3))):
            value = np.array(getattr(self, name), np.float64)
            if value.shape != shape or not np.all(np.isfinite(value)):
                raise ValueError(f"Calibration.{name}: expected a finite {shape} matrix, got shape {value.shape}")
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        dist = np.array(self.dist_coeffs, np.float64).reshape(-1)
        if dist.size not in (4, 5, 8, 12, 14) or not np.all(np.isfinite(dist)):
            raise ValueError(f"Calibration.dist_coeffs: expected 4, 5, 8, 12 or 14 finite values, got {dist.size}")
        dist.flags.writeable = False
        object.__setattr__(self, "dist_coeffs", dist)
        if not (self.mm_per_px > 0 and math.isfinite(self.mm_per_px)):
            raise ValueError(f"Calibration.mm_per_px: expected > 0, got {self.mm_per_px}")
        self.created_at  # noqa: B018 - validates the date

    @property
    def created_at(self) -> datetime:
        stamp = datetime.fromisoformat(self.created)
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

    def age_days(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.created_at).total_seconds() / 86400.0

    def undistort(self, points_px: np.ndarray) -> np.ndarray:
        """Image pixels → the pixels an ideal (distortion-free) camera with the same matrix would see."""
        pts = np.asarray(points_px, np.float64).reshape(-1, 1, 2)
        if pts.shape[0] == 0:
            return pts.reshape(0, 2)
        return cv2.undistortPoints(pts, self.camera_matrix, self.dist_coeffs, P=self.camera_matrix).reshape(-1, 2)

    def to_plane_mm(self, points_px: np.ndarray) -> np.ndarray:
        """Image pixels → millimetres on the part plane (undistorted, then through the plane homography)."""
        pts = self.undistort(points_px)
        if pts.shape[0] == 0:
            return pts
        return cv2.perspectiveTransform(pts.reshape(-1, 1, 2), self.plane_homography).reshape(-1, 2)

    def summary(self) -> str:
        return (f"camera {self.camera_id}: {self.mm_per_px:.5f} mm/px, reprojection error "
                f"{self.reprojection_error_px:.3f} px over {self.views} views, {self.created}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id, "created": self.created, "image_size": list(self.image_size),
            "camera_matrix": self.camera_matrix.tolist(), "dist_coeffs": self.dist_coeffs.tolist(),
            "plane_homography": self.plane_homography.tolist(), "mm_per_px": self.mm_per_px,
            "reprojection_error_px": self.reprojection_error_px, "views": self.views, "target": self.target,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Calibration:
        try:
            return cls(
                camera_id=str(data["camera_id"]), created=str(data["created"]),
                image_size=(int(data["image_size"][0]), int(data["image_size"][1])),
                camera_matrix=np.asarray(data["camera_matrix"], np.float64),
                dist_coeffs=np.asarray(data["dist_coeffs"], np.float64),
                plane_homography=np.asarray(data["plane_homography"], np.float64),
                mm_per_px=float(data["mm_per_px"]), reprojection_error_px=float(data["reprojection_error_px"]),
                views=int(data["views"]), target=dict(data.get("target") or {}), source=str(data.get("source", "")),
                path=path,
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CalibrationError(f"{path or 'calibration'}: not a valid calibration file ({exc}); "
                                   f"run `station calibrate` again") from exc


# --- finding the target ---------------------------------------------------------------------------------------


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def find_target(image: np.ndarray, spec: TargetSpec) -> tuple[np.ndarray, np.ndarray] | None:
    """(object points in mm, N×3 float32; image points in px, N×2 float32), or None when not found."""
    gray = _gray(image)
    if spec.kind == "chessboard":
        pattern = (spec.cols - 1, spec.rows - 1)
        found, corners = cv2.findChessboardCornersSB(gray, pattern, flags=cv2.CALIB_CB_ACCURACY)
        if not found:
            return None
        grid = np.mgrid[0:pattern[0], 0:pattern[1]].T.reshape(-1, 2).astype(np.float32) * spec.square_mm
        objects = np.hstack([grid, np.zeros((len(grid), 1), np.float32)])
        return objects, corners.reshape(-1, 2).astype(np.float32)
    board = spec.charuco_board()
    corners, ids, _, _ = cv2.aruco.CharucoDetector(board).detectBoard(gray)
    if ids is None or len(ids) < 6:  # too few corners to constrain a view
        return None
    objects, points = board.matchImagePoints(corners, ids)
    return objects.reshape(-1, 3).astype(np.float32), points.reshape(-1, 2).astype(np.float32)


# --- calibrating ----------------------------------------------------------------------------------------------


def _scale_at(homography: np.ndarray, centre: tuple[float, float]) -> float:
    """Linear scale (mm per px) of a homography at one pixel: sqrt of the area of a mapped unit square."""
    cx, cy = centre
    pts = np.array([[[cx, cy]], [[cx + 1, cy]], [[cx, cy + 1]]], np.float64)
    mm = cv2.perspectiveTransform(pts, homography).reshape(-1, 2)
    jac = np.column_stack([mm[1] - mm[0], mm[2] - mm[0]])
    return float(math.sqrt(abs(np.linalg.det(jac))))


def calibrate(images: Sequence[np.ndarray] | Iterable[np.ndarray], spec: TargetSpec, camera_id: str,
              source: str = "", plane_view: int = 0, names: Sequence[str] | None = None,
              now: datetime | None = None) -> Calibration:
    """Calibrate one camera from images of `spec`. `plane_view` is the index (among the images) of the view
    taken with the target lying on the part plane; it must show the target."""
    images = list(images)
    if not images:
        raise CalibrationError("no images to calibrate from")
    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    size = (int(images[0].shape[1]), int(images[0].shape[0]))
    objects, points, found_index = [], [], []
    for i, image in enumerate(images):
        if (int(image.shape[1]), int(image.shape[0])) != size:
            raise CalibrationError(f"{names[i]}: {image.shape[1]}x{image.shape[0]} px, the first image is "
                                   f"{size[0]}x{size[1]}; calibrate one camera at one resolution")
        hit = find_target(image, spec)
        if hit is not None:
            objects.append(hit[0])
            points.append(hit[1])
            found_index.append(i)
    target = f"{spec.kind} {spec.cols}x{spec.rows} squares of {spec.square_mm} mm"
    if plane_view not in found_index:
        raise CalibrationError(f"{names[plane_view] if plane_view < len(names) else plane_view}: the {target} was "
                               f"not found in the plane view (the image with the target on the part plane); "
                               f"check the target settings, focus and lighting")
    if len(found_index) < MIN_VIEWS:
        raise CalibrationError(f"the {target} was found in {len(found_index)} of {len(images)} images; at least "
                               f"{MIN_VIEWS} views (tilted differently) are needed; check the target settings")
    rms, matrix, dist, _, _ = cv2.calibrateCamera(objects, points, size, None, None)
    plane = found_index.index(plane_view)
    undistorted = cv2.undistortPoints(points[plane].reshape(-1, 1, 2).astype(np.float64), matrix, dist, P=matrix)
    homography, _ = cv2.findHomography(undistorted.reshape(-1, 2), objects[plane][:, :2].astype(np.float64))
    if homography is None:
        raise CalibrationError(f"{names[plane_view]}: no plane homography from the target's corners")
    mm_per_px = _scale_at(homography, (size[0] / 2.0, size[1] / 2.0))
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return Calibration(camera_id, stamp, size, matrix, dist, homography, mm_per_px, float(rms), len(found_index),
                       spec.as_dict() | {"plane_view": names[plane_view]}, source)


# --- versioned files --------------------------------------------------------------------------------------------


def save_calibration(calibration: Calibration, directory: Path | str) -> Path:
    """Write a new versioned file under `<directory>/<camera_id>/`; an existing file is never overwritten."""
    folder = Path(directory) / calibration.camera_id
    folder.mkdir(parents=True, exist_ok=True)
    stamp = calibration.created_at.strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(calibration.as_dict(), indent=1)
    for n in range(1000):
        path = folder / f"{FILE_PREFIX}{stamp}{'' if n == 0 else f'-{n}'}.json"
        try:
            with path.open("x", encoding="utf-8") as fh:  # "x": fails rather than overwrite
                fh.write(text)
            return path
        except FileExistsError:
            continue
    raise DataError(f"{folder}: too many calibrations at {stamp}")


def calibration_files(directory: Path | str, camera_id: str) -> list[Path]:
    """The camera's calibration files, oldest first (the names sort by date)."""
    folder = Path(directory) / camera_id
    if not folder.is_dir():
        return []

    def order(path: Path) -> tuple[str, int]:  # "…Z.json" then "…Z-1.json" (same second)
        stamp, _, n = path.stem[len(FILE_PREFIX):].partition("-")
        return stamp, int(n) if n.isdigit() else 0

    return sorted(folder.glob(f"{FILE_PREFIX}*.json"), key=order)


def load_calibration(path: Path | str) -> Calibration:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot read the calibration ({exc})") from exc
    return Calibration.from_dict(data, path)


def latest_calibration(directory: Path | str, camera_id: str) -> Calibration | None:
    files = calibration_files(directory, camera_id)
    return load_calibration(files[-1]) if files else None
