"""Which files are part images: the one list every folder reader (replay camera, training, export,
benchmarks) uses, so a folder never means different images to different commands."""

from __future__ import annotations

from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "image_files"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"})
"""Image file suffixes (lower case) OpenCV reads on every platform."""


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in `folder` (and below it with `recursive`), sorted by path."""
    entries = Path(folder).rglob("*") if recursive else Path(folder).iterdir()
    return sorted(p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
