"""Synthetic calibration views: a chessboard or ChArUco target seen by a known camera with known distortion.

Each view is rendered exactly: every (distorted) image pixel is undistorted with OpenCV, sent through the
inverse of the plane→image homography K·[r1 r2 t] onto the target, and the target texture sampled there.
So a calibration of these views can be checked against the camera and the scale that made them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.domain.calibration import TargetSpec

__all__ = ["TargetCamera", "default_poses", "render_target", "render_views"]

TEXTURE_PX_PER_MM = 20.0
MARGIN_SQUARES = 1.0  # white border around the target, in squares (chessboard detection needs a quiet zone)


@dataclass(frozen=True, slots=True)
class TargetCamera:
    width: int = 640
    height: int = 480
    focal_px: float = 800.0
    dist: tuple[float, ...] = (-0.12, 0.05, 0.0, 0.0, 0.0)

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.focal_px, 0, self.width / 2.0], [0, self.focal_px, self.height / 2.0], [0, 0, 1]])


def _texture(spec: TargetSpec) -> tuple[np.ndarray, float]:
    """The target as an image at TEXTURE_PX_PER_MM, and the mm offset of the target origin in it."""
    margin_mm = MARGIN_SQUARES * spec.square_mm
    w_mm, h_mm = spec.cols * spec.square_mm, spec.rows * spec.square_mm
    size = (round((w_mm + 2 * margin_mm) * TEXTURE_PX_PER_MM), round((h_mm + 2 * margin_mm) * TEXTURE_PX_PER_MM))
    canvas = np.full((size[1], size[0]), 255, np.uint8)
    m = round(margin_mm * TEXTURE_PX_PER_MM)
    inner = (round(w_mm * TEXTURE_PX_PER_MM), round(h_mm * TEXTURE_PX_PER_MM))
    if spec.kind == "charuco":
        canvas[m:m + inner[1], m:m + inner[0]] = spec.charuco_board().generateImage(inner, marginSize=0)
    else:
        sq = spec.square_mm * TEXTURE_PX_PER_MM
        for r in range(spec.rows):
            for c in range(spec.cols):
                if (r + c) % 2 == 0:
                    canvas[m + round(r * sq):m + round((r + 1) * sq), m + round(c * sq):m + round((c + 1) * sq)] = 0
    return canvas, margin_mm


def _corner_origin_mm(spec: TargetSpec) -> float:
    """OpenCV's object points start at the first inner corner (chessboard) or the board corner (ChArUco)."""
    return spec.square_mm if spec.kind == "chessboard" else 0.0


def render_target(spec: TargetSpec, camera: TargetCamera, rvec: np.ndarray, tvec: np.ndarray,
                  noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """One grey view of the target at pose (rvec, tvec) in the camera frame (mm), distorted by `camera.dist`.

    The pose places OpenCV's object-point origin (first inner corner for a chessboard)."""
    texture, margin_mm = _texture(spec)
    rot, _ = cv2.Rodrigues(np.asarray(rvec, np.float64))
    plane_to_image = camera.matrix @ np.column_stack([rot[:, 0], rot[:, 1], np.asarray(tvec, np.float64)])
    xs, ys = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    pix = np.stack([xs.ravel(), ys.ravel()], axis=1).reshape(-1, 1, 2)
    ideal = cv2.undistortPoints(pix, camera.matrix, np.asarray(camera.dist), None, camera.matrix,
                                criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-6))
    plane = cv2.perspectiveTransform(ideal, np.linalg.inv(plane_to_image)).reshape(-1, 2)
    offset = margin_mm + _corner_origin_mm(spec)
    map_x = ((plane[:, 0] + offset) * TEXTURE_PX_PER_MM - 0.5).reshape(camera.height, camera.width)
    map_y = ((plane[:, 1] + offset) * TEXTURE_PX_PER_MM - 0.5).reshape(camera.height, camera.width)
    # Area sampling: the texture is finer than the image, so blur it to about one image pixel first.
    sigma = max(0.5, TEXTURE_PX_PER_MM * float(tvec[2]) / camera.focal_px / 2.5)
    smooth = cv2.GaussianBlur(texture, (0, 0), sigma)
    view = cv2.remap(smooth, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=200)
    if noise > 0:
        rng = np.random.default_rng(seed)
        view = np.clip(view + rng.normal(0, noise, view.shape), 0, 255).astype(np.uint8)
    return view


def default_poses(spec: TargetSpec, distance_mm: float = 300.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fronto-parallel view (the plane view, first) and tilted views around the image centre."""
    w_mm, h_mm = (spec.cols - 2) * spec.square_mm, (spec.rows - 2) * spec.square_mm
    if spec.kind == "charuco":
        w_mm, h_mm = spec.cols * spec.square_mm, spec.rows * spec.square_mm
    poses = []
    for rx, ry, rz, dx, dy in ((0, 0, 0, 0, 0), (0.35, 0, 0.05, 10, 0), (-0.35, 0, -0.05, -10, 5),
                               (0, 0.35, 0.1, 0, -10), (0, -0.35, -0.1, 5, 10), (0.25, 0.25, 0.2, -5, -5),
                               (-0.25, -0.25, -0.2, 0, 0)):
        rot, _ = cv2.Rodrigues(np.array([rx, ry, rz], np.float64))
        centre = rot @ np.array([w_mm / 2.0, h_mm / 2.0, 0.0])
        tvec = np.array([dx, dy, distance_mm]) - centre
        poses.append((np.array([rx, ry, rz], np.float64), tvec))
    return poses


def render_views(spec: TargetSpec, camera: TargetCamera | None = None, distance_mm: float = 300.0,
                 noise: float = 2.0) -> list[np.ndarray]:
    camera = camera or TargetCamera()
    return [render_target(spec, camera, r, t, noise, seed=i)
            for i, (r, t) in enumerate(default_poses(spec, distance_mm))]
