"""Shared fixtures: real (untrained) YOLO model files, sample part images, a station config on disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TINY_CLASSES = ("bridge", "insufficient", "missing")


def make_untrained_yolo(path: Path, names: tuple[str, ...] = TINY_CLASSES, task: str = "detect",
                        imgsz: int = 128) -> Path:
    """Write a real ultralytics model file with random weights: the real loading and inference code
    path, at a fraction of a trained model's cost."""
    import torch

    from inspection.inference.offline import ensure_offline

    ensure_offline()
    from ultralytics.nn.tasks import DetectionModel, SegmentationModel

    torch.manual_seed(0)
    cls, cfg = (SegmentationModel, "yolov8n-seg.yaml") if task == "segment" else (DetectionModel, "yolov8n.yaml")
    model = cls(cfg, nc=len(names), verbose=False)
    model.names = dict(enumerate(names))
    model.args = {"imgsz": imgsz, "task": task}
    torch.save({"model": model.half(), "train_args": {"imgsz": imgsz, "task": task}, "date": None,
                "version": "station-test"}, path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_untrained_yolo(tmp_path_factory.mktemp("models") / "tiny_detect.pt")


@pytest.fixture(scope="session")
def tiny_seg_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_untrained_yolo(tmp_path_factory.mktemp("models") / "tiny_seg.pt", task="segment")


def write_parts(folder: Path, count: int, size: int = 96, seed: int = 0) -> Path:
    """Write `count` simple board-like PNGs (dark board, bright pads) into `folder`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = np.full((size, size, 3), (40, 90, 30), np.uint8)
        for _ in range(4):
            x, y = rng.integers(5, size - 20, 2)
            cv2.rectangle(image, (int(x), int(y)), (int(x) + 12, int(y) + 8), (180, 180, 190), -1)
        cv2.imwrite(str(folder / f"part_{i:04d}.png"), image)
    return folder


@pytest.fixture
def parts_dir(tmp_path: Path) -> Path:
    return write_parts(tmp_path / "parts", 6)


@pytest.fixture
def override_yaml() -> Callable[[Path, str], None]:
    """override_yaml(path, patch): replace top-level sections of a YAML file with those in `patch` (the
    station refuses a key given twice, so a test cannot simply append a second `detector:`)."""

    def override(path: Path, patch: str) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        data.update(yaml.safe_load(patch) or {})
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    return override


@pytest.fixture
def station_yaml(tmp_path: Path, parts_dir: Path, tiny_model: Path) -> Path:
    """A complete station config: replay camera over `parts_dir`, the tiny model, a recipe."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"name: test-board\nmodel: {tiny_model}\ndefault:\n  min_confidence: 0.5\n"
        "deadline_ms: 60000\nclasses:\n  bridge:\n    min_confidence: 0.3\n",
        encoding="utf-8",
    )
    config = tmp_path / "station.yaml"
    config.write_text(
        f"name: test\ndata_dir: {tmp_path / 'data'}\nrecipe: recipe.yaml\n"
        f"cameras:\n  - kind: replay\n    id: cam0\n    path: {parts_dir}\n"
        "detector:\n  kind: ultralytics\n  device: cpu\n  imgsz: 96\n",
        encoding="utf-8",
    )
    return config


# --- a tiny real anomaly model (fitted once per session on synthetic light-bar surfaces) ----------------


@pytest.fixture(scope="session")
def anomaly_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from inspection.anomaly.testing import surface
    from training.anomaly import FitConfig, fit_anomaly

    torch.set_num_threads(1)
    report = fit_anomaly([surface(i, (160, 160)) for i in range(16)], FitConfig(imgsz=128, val_fraction=0.4))
    return report.model.save(tmp_path_factory.mktemp("anomaly") / "surface.npz")


@pytest.fixture(scope="session")
def colour_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from inspection.anomaly.testing import surface
    from training.anomaly import FitConfig, fit_anomaly

    report = fit_anomaly([surface(i, (64, 64), mono=False) for i in range(8)], FitConfig(imgsz=64))
    return report.model.save(tmp_path_factory.mktemp("anomaly") / "colour.npz")


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts hash at the production scrypt cost (N=2^17, ~1 s here) only in the tests that say so
    (`monkeypatch.undo()` in tests/inspection/security/test_accounts.py); everywhere else a cheap cost keeps
    the suite fast on a shared 2-core machine."""
    import inspection.domain.permissions

    monkeypatch.setattr(inspection.domain.permissions, "_SCRYPT_N", 2**12)
