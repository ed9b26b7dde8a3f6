"""Real YOLO models (untrained, with active heads) exported once per session at a tiny input size."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.export import ExportReport, export_model
from training.testing import untrained_yolo

CLASSES = ("bridge", "solder_ball", "void")
IMGSZ = 96


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backend_models")


@pytest.fixture(scope="session")
def det_pt(models_dir: Path) -> Path:
    return untrained_yolo(models_dir / "det.pt", CLASSES)


@pytest.fixture(scope="session")
def seg_pt(models_dir: Path) -> Path:
    return untrained_yolo(models_dir / "seg.pt", CLASSES, task="segment")


@pytest.fixture(scope="session")
def det_onnx(det_pt: Path) -> ExportReport:
    return export_model(det_pt, "onnx", imgsz=IMGSZ)


@pytest.fixture(scope="session")
def det_openvino(det_pt: Path) -> ExportReport:
    return export_model(det_pt, "openvino", imgsz=IMGSZ)


@pytest.fixture(scope="session")
def seg_onnx(seg_pt: Path) -> ExportReport:
    return export_model(seg_pt, "onnx", imgsz=IMGSZ)
