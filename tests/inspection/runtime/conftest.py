"""A real exported detector (untrained yolov8n, active head, ONNX at 64 px) and station configs around it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from training.export import export_model
from training.testing import untrained_yolo


@pytest.fixture(scope="session")
def runtime_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(.pt, .onnx exported beside it) — the recipe names the .pt, the onnx detector finds the export."""
    folder = tmp_path_factory.mktemp("runtime_models")
    pt = untrained_yolo(folder / "rt_det.pt", ("bridge", "solder_ball", "void"))
    export_model(pt, "onnx", imgsz=64, out=pt.with_suffix(".onnx"), max_images=1)
    return pt, pt.with_suffix(".onnx")


def write_images(folder: Path, count: int, shape: tuple[int, int] = (72, 96), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"part_{i:04d}.png"), rng.integers(0, 255, (*shape, 3), dtype=np.uint8))
    return folder


@pytest.fixture
def make_station(tmp_path: Path, runtime_model: tuple[Path, Path]) -> Callable[..., Path]:
    """Write a station YAML (+ recipe) and return its path; keyword overrides go into the sections."""
    pt, _ = runtime_model

    def make(cameras: list[dict[str, Any]] | None = None, recipe: dict[str, Any] | None = None,
             detector: dict[str, Any] | None = None) -> Path:
        parts = write_images(tmp_path / "parts", 8) if cameras is None else None
        recipe_data = {"name": "rt-board", "model": str(pt), "default": {"min_confidence": 0.9},
                       "deadline_ms": 60000.0, **(recipe or {})}
        (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe_data))
        config = {"name": "rt", "data_dir": str(tmp_path / "data"), "recipe": "recipe.yaml",
                  "cameras": cameras or [{"kind": "replay", "id": "cam0", "path": str(parts)}],
                  "detector": {"kind": "onnx", "conf": 0.25, **(detector or {})},
                  "store": {"keep_images": "none"}}
        path = tmp_path / "station.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return make


@pytest.fixture
def make_images(tmp_path: Path) -> Callable[..., Path]:
    """`make_images(name, count)` → a folder of `count` random PNG parts under tmp_path."""
    return lambda name, count, **kw: write_images(tmp_path / name, count, **kw)
