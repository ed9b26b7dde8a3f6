"""The `combined` detector: a real YOLO model beside the anomaly model, and the station around them."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest

from inspection.adapters.registry import create_adapter
from inspection.anomaly.combined import CombinedDetector, Options, drop_explained
from inspection.anomaly.testing import surface
from inspection.config import load_station_config, validate_model
from inspection.domain.types import Box, Detection, Frame
from inspection.errors import ConfigError
from inspection.runtime.pipeline import Station
from training.testing import untrained_yolo

SIZE = (160, 160)
CLASSES = ("run", "crater")


@pytest.fixture(scope="module")
def yolo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_yolo(tmp_path_factory.mktemp("yolo") / "paint.pt", CLASSES)


def _options(anomaly_model_path: Path, **extra: object) -> Options:
    raw = {"kind": "combined", "detectors": [
        {"kind": "ultralytics", "imgsz": 160, "device": "cpu"},
        {"kind": "anomaly", "model": str(anomaly_model_path), "threads": 1},
    ], **extra}
    return validate_model(Options, raw, "station.yaml", "detector")


def test_runs_both_and_merges_class_names(yolo_path: Path, anomaly_model_path: Path) -> None:
    detector = create_adapter("detector", _options(anomaly_model_path, explained_overlap=0.0), model_path=yolo_path)
    try:
        assert isinstance(detector, CombinedDetector)
        assert detector.class_names == (*CLASSES, "anomaly")
        assert detector.model_id.startswith("paint@") and "+surface@" in detector.model_id
        out = detector.detect(Frame(surface(7, SIZE, defect=True), "cam0", 1, time.time()))
        sources = {d.source for d in out.detections}
        assert sources == {"detector", "anomaly"}  # the untrained YOLO reports random boxes, the anomaly model the blob
        assert out.infer_ms > 0
    finally:
        detector.close()


def test_nested_options_are_validated_by_their_own_kind(anomaly_model_path: Path) -> None:
    raw = {"kind": "combined", "detectors": [{"kind": "anomaly", "model": "m.npz", "treshold": 2}]}
    with pytest.raises(ConfigError, match=r"station.yaml: detector.detectors: .*detectors.0.treshold: unknown key"):
        validate_model(Options, raw, "station.yaml", "detector")
    with pytest.raises(ConfigError, match="unknown detector kind 'yolo'"):
        validate_model(Options, {"kind": "combined", "detectors": [{"kind": "yolo"}]}, "station.yaml", "detector")
    with pytest.raises(ConfigError, match="cannot contain another combined"):
        validate_model(Options, {"kind": "combined", "detectors": [{"kind": "combined", "detectors": []}]},
                       "station.yaml", "detector")
    with pytest.raises(ConfigError, match="detectors"):
        validate_model(Options, {"kind": "combined", "detectors": []}, "station.yaml", "detector")


def _det(source: str, box: tuple[float, float, float, float], name: str = "anomaly") -> Detection:
    return Detection(class_name=name, confidence=0.9, box=Box(*box), source=source)


def test_anomaly_inside_a_known_defect_is_dropped_others_kept() -> None:
    known = _det("detector", (0, 0, 50, 50), "run")
    explained = _det("anomaly", (10, 10, 30, 30))
    half_out = _det("anomaly", (40, 40, 60, 60))  # a quarter of it inside the run's box
    unknown = _det("anomaly", (100, 100, 120, 120))
    kept = drop_explained((known, explained, half_out, unknown), overlap=0.5)
    assert kept == (known, half_out, unknown)
    assert drop_explained((known, explained), overlap=0.0) == (known, explained)


def test_station_sends_unknown_defects_to_review(tmp_path: Path, anomaly_model_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(4):  # parts 1 and 3 have a defect
        cv2.imwrite(str(parts / f"part{i}.png"), surface(700 + i, SIZE, defect=bool(i % 2)))
    (tmp_path / "recipe.yaml").write_text("name: panel\nclasses:\n  anomaly: {action: review}\n")
    (tmp_path / "station.yaml").write_text(
        f"recipe: recipe.yaml\ndata_dir: {tmp_path / 'data'}\n"
        "cameras:\n  - {kind: replay, path: parts, pixel_format: mono8}\n"
        f"detector: {{kind: anomaly, model: {anomaly_model_path}, threads: 1}}\n")
    config = load_station_config(tmp_path / "station.yaml")
    with Station(config) as station:
        station.warmup()
        summary = station.run()
        counts = station.store.counts() if station.store else {}
    assert summary.counts["REVIEW"] == 2 and summary.counts["PASS"] == 2, summary.as_dict()
    assert sum(counts.values()) >= 4
