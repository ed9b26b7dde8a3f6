"""Tiny synthetic good/defective surfaces for tests and demos of the anomaly model (no data files).

A good surface is a regular pattern of light bars (as a glossy panel under a tunnel's light bars) with a
random phase and mild sensor noise; a defective one adds a dark blob or a bright scratch at a known place.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["surface", "write_images"]


def surface(seed: int, size: tuple[int, int] = (96, 96), defect: bool = False, mono: bool = True,
            at: tuple[int, int] | None = None) -> np.ndarray:
    """A uint8 surface image; with `defect`, a dark 12 px blob centred at `at` (x, y) (default: random)."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    image = 140 + 60 * np.sin(2 * np.pi * x / 16.0 + phase) + rng.normal(0, 3, size).astype(np.float32)
    if defect:
        cx, cy = at if at is not None else (int(rng.integers(16, w - 16)), int(rng.integers(16, h - 16)))
        blob = ((x - cx) ** 2 + (y - cy) ** 2) <= 36
        image[blob] = 10
    image = np.clip(image, 0, 255).astype(np.uint8)
    if mono:
        return image
    return np.stack([image, (image * 0.8).astype(np.uint8), (image * 0.6).astype(np.uint8)], axis=2)


def write_images(folder: Path, images: list[np.ndarray]) -> Path:
    """`images` as `000.png`, `001.png`, … in `folder` (created): a good or bad folder for the CLI and fit tests."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
    return folder
