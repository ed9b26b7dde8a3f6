"""A tiny real anomaly model, fitted once per session on synthetic light-bar surfaces (160×160 mono)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inspection.anomaly.testing import surface
from training.anomaly import FitConfig, fit_anomaly

SIZE = (160, 160)


@pytest.fixture(scope="session")
def anomaly_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    report = fit_anomaly([surface(i, SIZE) for i in range(16)], FitConfig(imgsz=128, val_fraction=0.4))
    return report.model.save(tmp_path_factory.mktemp("anomaly") / "surface.npz")


@pytest.fixture(scope="session")
def colour_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = fit_anomaly([surface(i, (64, 64), mono=False) for i in range(8)], FitConfig(imgsz=64))
    return report.model.save(tmp_path_factory.mktemp("anomaly") / "colour.npz")
