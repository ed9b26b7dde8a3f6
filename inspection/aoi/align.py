"""Board ↔ image alignment: fiducials (2–3 → similarity/affine, residual reported) and feature registration.

Board coordinates are CAD millimetres (x right, y up); image coordinates are pixels (x right, y down).
A `BoardTransform` is the 2×3 affine matrix from the first to the second. Feature registration (ORB +
RANSAC, optionally refined by ECC) aligns an image to a reference image (the golden board) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.aoi.library import Fiducial
from inspection.aoi.placement import Placement
from inspection.errors import DataError

__all__ = [
    "Alignment",
    "BoardTransform",
    "FiducialMatch",
    "Registration",
    "align_by_fiducials",
    "estimate_transform",
    "find_fiducial",
    "register_images",
]


@dataclass(frozen=True)
class BoardTransform:
    """mm → px affine map (2×3). `scale_px_per_mm` is the mean linear scale."""

    matrix: np.ndarray

    @classmethod
    def nominal(cls, px_per_mm: float, origin_px: tuple[float, float], y_up: bool = True,
                mirror_x: bool = False) -> BoardTransform:
        """A fixtured board: board origin at `origin_px`, no rotation; CAD y up means image y flipped;
        `mirror_x` for a camera looking at the bottom side (the board seen from below)."""
        sx = -px_per_mm if mirror_x else px_per_mm
        sy = -px_per_mm if y_up else px_per_mm
        return cls(np.array([[sx, 0.0, origin_px[0]], [0.0, sy, origin_px[1]]], np.float64))

    @property
    def reflects(self) -> bool:
        """True when the map mirrors (CAD y up → image y down, seen from the top)."""
        return bool(np.linalg.det(self.matrix[:, :2]) < 0)

    def apply(self, points_mm: np.ndarray) -> np.ndarray:
        points = np.asarray(points_mm, np.float64).reshape(-1, 2)
        return points @ self.matrix[:, :2].T + self.matrix[:, 2]

    @property
    def scale_px_per_mm(self) -> float:
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    @property
    def rotation_deg(self) -> float:
        """Rotation of the board x axis in the image (0 = along image x)."""
        return float(np.degrees(np.arctan2(self.matrix[1, 0], self.matrix[0, 0])))

    def then(self, image_affine: np.ndarray) -> BoardTransform:
        """This transform followed by an image-to-image affine (2×3)."""
        a = np.vstack([image_affine, [0, 0, 1]])
        b = np.vstack([self.matrix, [0, 0, 1]])
        return BoardTransform((a @ b)[:2])


@dataclass(frozen=True, slots=True)
class FiducialMatch:
    refdes: str
    expected_px: tuple[float, float]
    found_px: tuple[float, float]
    score: float


@dataclass(frozen=True)
class Alignment:
    transform: BoardTransform
    method: str
    residual_px: float
    residual_mm: float
    matches: tuple[FiducialMatch, ...] = ()

    def summary(self) -> str:
        return (f"{self.method}: residual {self.residual_px:.2f} px ({self.residual_mm:.3f} mm), scale "
                f"{self.transform.scale_px_per_mm:.2f} px/mm, rotation {self.transform.rotation_deg:.2f}°")


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _disk_template(diameter_px: float, polarity: str) -> np.ndarray:
    """A dot on a ring of board: the dot itself and its clearance make the fiducial."""
    size = int(np.ceil(diameter_px * 2.0)) | 1
    template = np.zeros((size, size), np.uint8)
    centre = size // 2
    cv2.circle(template, (centre, centre), max(1, round(diameter_px / 2)), 255, -1, cv2.LINE_AA)
    return template if polarity == "bright" else 255 - template


def find_fiducial(image: np.ndarray, placement: Placement, fiducial: Fiducial, nominal: BoardTransform,
                  search_radius_mm: float, min_score: float) -> FiducialMatch:
    """Normalised template matching of a dot in a window around where the fiducial should be."""
    gray = _gray(image)
    scale = nominal.scale_px_per_mm
    expected = nominal.apply(np.array([placement.x_mm, placement.y_mm]))[0]
    template = _disk_template(fiducial.diameter * scale, fiducial.polarity)
    half = round(search_radius_mm * scale + template.shape[0] / 2)
    x0, y0 = round(expected[0]) - half, round(expected[1]) - half
    x1, y1 = x0 + 2 * half + 1, y0 + 2 * half + 1
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(gray.shape[1], x1), min(gray.shape[0], y1)
    where = (f"fiducial {placement.refdes} (line {placement.line}) expected near pixel "
             f"({expected[0]:.0f}, {expected[1]:.0f})")
    if cx1 - cx0 <= template.shape[1] or cy1 - cy0 <= template.shape[0]:
        raise DataError(f"{where}: its search window lies outside the {gray.shape[1]}x{gray.shape[0]} image; "
                        f"check board.origin_px / px_per_mm or the board's position in the fixture")
    window = gray[cy0:cy1, cx0:cx1]
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if not np.isfinite(best) or best < min_score:
        raise DataError(f"{where}: not found (best match {best:.2f} < min_score {min_score:.2f} within "
                        f"{search_radius_mm} mm); check lighting, the board's position or the fiducial diameter")
    dx, dy = _subpixel(scores, bx, by)
    half_t = template.shape[0] // 2
    found = (cx0 + bx + dx + half_t, cy0 + by + dy + half_t)
    return FiducialMatch(placement.refdes, (float(expected[0]), float(expected[1])),
                         (float(found[0]), float(found[1])), float(best))


def _subpixel(scores: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """Parabola through the peak and its neighbours, per axis."""
    def offset(a: float, b: float, c: float) -> float:
        denom = a - 2 * b + c
        return float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom != 0 else 0.0

    h, w = scores.shape
    dx = offset(scores[y, x - 1], scores[y, x], scores[y, x + 1]) if 0 < x < w - 1 else 0.0
    dy = offset(scores[y - 1, x], scores[y, x], scores[y + 1, x]) if 0 < y < h - 1 else 0.0
    return dx, dy


def estimate_transform(board_mm: np.ndarray, image_px: np.ndarray, model: str = "similarity",
                       reflect: bool = True) -> BoardTransform:
    """Least squares: similarity (rotation + uniform scale + shift, ≥2 points) or affine (≥3 points)."""
    src = np.asarray(board_mm, np.float64).reshape(-1, 2)
    dst = np.asarray(image_px, np.float64).reshape(-1, 2)
    if model == "affine":
        if len(src) < 3:
            raise DataError(f"an affine board transform needs 3 fiducials, got {len(src)}; use model: similarity")
        design = np.hstack([src, np.ones((len(src), 1))])
        solution, *_ = np.linalg.lstsq(design, dst, rcond=None)
        return BoardTransform(solution.T)
    if len(src) < 2:
        raise DataError(f"alignment needs at least 2 fiducials, got {len(src)}")
    # CAD y up, image y down is a reflection: fit a similarity to mirrored board points, then fold it in.
    flip = np.diag([1.0, -1.0]) if reflect else np.eye(2)
    s = src @ flip.T
    zs = s[:, 0] + 1j * s[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    ms, md = zs.mean(), zd.mean()
    a = np.vdot(zs - ms, zd - md) / np.vdot(zs - ms, zs - ms)
    b = md - a * ms
    linear = np.array([[a.real, -a.imag], [a.imag, a.real]]) @ flip
    return BoardTransform(np.hstack([linear, [[b.real], [b.imag]]]))


def align_by_fiducials(image: np.ndarray, fiducials: list[tuple[Placement, Fiducial]], nominal: BoardTransform,
                       search_radius_mm: float = 2.0, min_score: float = 0.6, model: str = "similarity",
                       max_residual_px: float = 3.0, max_scale_error: float = 0.05) -> Alignment:
    if len(fiducials) < 2:
        raise DataError(f"fiducial alignment needs 2 or 3 fiducials in the placement list, got {len(fiducials)}; "
                        f"add FID rows whose package is a `fiducial:` in the library, or use align: nominal")
    matches = [find_fiducial(image, p, f, nominal, search_radius_mm, min_score) for p, f in fiducials]
    board = np.array([[p.x_mm, p.y_mm] for p, _ in fiducials])
    found = np.array([m.found_px for m in matches])
    transform = estimate_transform(board, found, model, reflect=nominal.reflects)
    residual = float(np.sqrt(np.mean(np.sum((transform.apply(board) - found) ** 2, axis=1))))
    scale_error = abs(transform.scale_px_per_mm / nominal.scale_px_per_mm - 1.0)
    names = ", ".join(m.refdes for m in matches)
    if residual > max_residual_px:
        raise DataError(f"fiducials {names} do not fit one {model} transform (residual {residual:.2f} px > "
                        f"{max_residual_px} px): one was probably matched on something else; check them")
    if scale_error > max_scale_error:
        raise DataError(f"fiducials {names} imply {transform.scale_px_per_mm:.2f} px/mm, nominal is "
                        f"{nominal.scale_px_per_mm:.2f}: wrong fiducial found or wrong px_per_mm")
    return Alignment(transform, f"fiducials/{model}", residual, residual / transform.scale_px_per_mm,
                     tuple(matches))


@dataclass(frozen=True)
class Registration:
    """`matrix` (2×3) takes moving-image pixels to reference pixels. `residual_px`: RMS over ORB inliers;
    `correlation`: ECC's final correlation coefficient (1 = identical after warping)."""

    matrix: np.ndarray
    method: str
    residual_px: float | None = None
    inliers: int = 0
    correlation: float | None = None

    def summary(self) -> str:
        parts = [self.method]
        if self.residual_px is not None:
            parts.append(f"residual {self.residual_px:.2f} px over {self.inliers} inliers")
        if self.correlation is not None:
            parts.append(f"ECC correlation {self.correlation:.3f}")
        return ", ".join(parts)


def register_images(moving: np.ndarray, fixed: np.ndarray, method: str = "orb", max_features: int = 3000,
                    min_inliers: int = 12, ecc_iterations: int = 50) -> Registration:
    """Affine taking `moving` pixel coordinates to `fixed` ones, with its residual.

    `orb`: ORB keypoints + ratio test + RANSAC similarity. `ecc`: intensity-based ECC (Euclidean) from the
    identity. `orb+ecc`: ORB, then ECC refinement (sub-pixel). Raises DataError when registration fails.
    """
    if method not in ("orb", "ecc", "orb+ecc"):
        raise DataError(f"unknown registration method {method!r}; expected orb, ecc or orb+ecc")
    a, b = _gray(moving), _gray(fixed)
    if a.shape != b.shape:
        raise DataError(f"image is {a.shape[1]}x{a.shape[0]} px, the reference {b.shape[1]}x{b.shape[0]} px: "
                        f"capture both with the same camera and resolution")
    warp = np.eye(2, 3, dtype=np.float64)
    residual, inliers, correlation = None, 0, None
    if method in ("orb", "orb+ecc"):
        warp, residual, inliers = _register_orb(a, b, max_features, min_inliers)
    if method in ("ecc", "orb+ecc"):
        warp, correlation = _refine_ecc(a, b, warp, ecc_iterations)
    return Registration(warp, method, residual, inliers, correlation)


def _register_orb(a: np.ndarray, b: np.ndarray, max_features: int,
                  min_inliers: int) -> tuple[np.ndarray, float, int]:
    orb = cv2.ORB_create(nfeatures=max_features)
    ka, da = orb.detectAndCompute(a, None)
    kb, db = orb.detectAndCompute(b, None)
    if da is None or db is None or len(ka) < min_inliers or len(kb) < min_inliers:
        raise DataError(f"feature registration failed: too few ORB keypoints ({len(ka or ())} / {len(kb or ())}); "
                        f"the image may be blank, out of focus or of another board")
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [m for m, *rest in pairs if rest and m.distance < 0.8 * rest[0].distance]
    if len(good) < min_inliers:
        raise DataError(f"feature registration failed: {len(good)} matching features < {min_inliers}; "
                        f"is this the same board as the reference?")
    src = np.float32([ka[m.queryIdx].pt for m in good])
    dst = np.float32([kb[m.trainIdx].pt for m in good])
    warp, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0)
    n_inliers = int(inliers.sum()) if inliers is not None else 0
    if warp is None or n_inliers < min_inliers:
        raise DataError(f"feature registration failed: {n_inliers} consistent matches < {min_inliers}")
    mask = inliers.ravel().astype(bool)
    moved = src[mask] @ warp[:, :2].T + warp[:, 2]
    residual = float(np.sqrt(np.mean(np.sum((moved - dst[mask]) ** 2, axis=1))))
    return warp.astype(np.float64), residual, n_inliers


def _refine_ecc(a: np.ndarray, b: np.ndarray, warp: np.ndarray, iterations: int) -> tuple[np.ndarray, float]:
    # ECC estimates fixed→moving sampling; invert our moving→fixed warp for it, and back afterwards.
    inverse = cv2.invertAffineTransform(warp).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
    try:
        cc, inverse = cv2.findTransformECC(b.astype(np.float32), a.astype(np.float32), inverse,
                                           cv2.MOTION_EUCLIDEAN, criteria, None, 5)
    except cv2.error as exc:
        raise DataError(f"ECC registration did not converge ({str(exc).strip().splitlines()[-1]}); "
                        f"use registration: orb or check the reference image") from None
    return cv2.invertAffineTransform(inverse).astype(np.float64), float(cc)
