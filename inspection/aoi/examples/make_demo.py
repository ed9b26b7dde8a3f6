"""Regenerate the golden-board demo images from demo_board.csv + packages.yaml (deterministic).

    .venv/bin/python inspection/aoi/examples/make_demo.py

golden.jpg: a defect-free board. boards/: what the replay camera plays — a good board (other lighting,
moved in the fixture) and one with a missing R3, an offset C2, a rotated D1 and a solder bridge on U1 1–2.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from inspection.aoi.align import BoardTransform
from inspection.aoi.library import load_library
from inspection.aoi.placement import load_placements
from inspection.aoi.synthetic import BoardDefect, render_board

HERE = Path(__file__).resolve().parent
SIZE = (880, 560)
NOMINAL = BoardTransform.nominal(16.0, (40.0, 520.0))
DEFECTS = {"R3": BoardDefect("missing"), "C2": BoardDefect("offset", dx_mm=0.6),
           "D1": BoardDefect("rotated", angle_deg=15.0), "U1": BoardDefect("bridge")}


def moved(dx_px: float, dy_px: float, angle_deg: float) -> BoardTransform:
    """The board a little off its nominal place in the fixture."""
    a = np.radians(angle_deg)
    return NOMINAL.then(np.array([[np.cos(a), -np.sin(a), dx_px], [np.sin(a), np.cos(a), dy_px]]))


def _write(path: Path, image: np.ndarray) -> None:
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])


def main() -> None:
    placements = load_placements(HERE / "demo_board.csv")
    library = load_library(HERE / "packages.yaml")
    boards = HERE / "boards"
    boards.mkdir(exist_ok=True)
    _write(HERE / "golden.jpg", render_board(placements, library, NOMINAL, SIZE, seed=1))
    _write(boards / "board_001_good.jpg",
                render_board(placements, library, moved(5, -3, 0.4), SIZE, gain=1.15, offset=-8, seed=2))
    _write(boards / "board_002_defects.jpg",
                render_board(placements, library, moved(-4, 6, -0.6), SIZE, DEFECTS, gain=0.9, offset=6, seed=3))


if __name__ == "__main__":
    main()
