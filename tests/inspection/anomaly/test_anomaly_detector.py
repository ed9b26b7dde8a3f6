"""The `anomaly` detector adapter: registry, config, detections in frame pixels, recipe verdicts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from inspection.adapters.registry import adapter_module, create_adapter
from inspection.anomaly.detector import AnomalyDetector, Options
from inspection.anomaly.testing import surface
from inspection.config import validate_model
from inspection.domain.judge import Judge
from inspection.domain.recipe import Recipe
from inspection.domain.tiling import TilingOptions
from inspection.domain.tta import TtaOptions
from inspection.domain.types import Frame, VerdictStatus
from inspection.errors import ConfigError, DataError
from inspection.inference import Detector, create_detector

SIZE = (160, 160)


def _frame(image: np.ndarray, sequence: int = 1) -> Frame:
    return Frame(image, "cam0", sequence, time.time())


@pytest.fixture(scope="module")
def detector(anomaly_model_path: Path) -> AnomalyDetector:
    raw = {"kind": "anomaly", "model": str(anomaly_model_path), "threads": 1}
    options = validate_model(adapter_module("detector", "anomaly").Options, raw, "test.yaml", "detector")
    built = create_adapter("detector", options)
    assert isinstance(built, AnomalyDetector) and isinstance(built, Detector)
    return built


def test_good_part_gives_no_detection(detector: AnomalyDetector) -> None:
    out = detector.detect(_frame(surface(900, SIZE)))
    assert out.detections == ()
    assert out.infer_ms > 0


def test_defect_becomes_anomaly_region_around_it(detector: AnomalyDetector) -> None:
    out = detector.detect(_frame(surface(901, SIZE, defect=True, at=(120, 40))))
    assert out.detections
    top = out.detections[0]
    assert (top.class_name, top.source) == ("anomaly", "anomaly")
    assert top.confidence >= 0.5 and top.polygon is not None and len(top.polygon) >= 3
    assert top.box.x1 <= 120 <= top.box.x2 and top.box.y1 <= 40 <= top.box.y2
    assert float(top.attributes["score"]) >= float(top.attributes["threshold"])
    assert detector.last_result is not None and detector.last_result.is_anomalous


def test_frame_of_other_size_or_channels_is_refused(detector: AnomalyDetector) -> None:
    with pytest.raises(DataError, match="fitted on 160×160"):
        detector.detect(_frame(surface(1, (120, 160))))
    with pytest.raises(DataError, match="3-channel"):
        detector.detect(_frame(surface(1, SIZE, mono=False)))


def test_warmup_accepts_the_stations_small_blank_frame(detector: AnomalyDetector) -> None:
    detector.warmup(_frame(np.zeros((64, 64, 3), np.uint8)))  # the pipeline's warm-up frame


@pytest.mark.parametrize(("action", "status"), [("review", VerdictStatus.REVIEW), ("fail", VerdictStatus.FAIL)])
def test_recipe_decides_what_an_anomaly_means(detector: AnomalyDetector, action: str, status: VerdictStatus) -> None:
    recipe = Recipe(name="panel", classes={"anomaly": {"action": action}})
    recipe.check_classes(detector.class_names)
    judge = Judge(recipe)
    bad = judge.judge(detector.detect(_frame(surface(902, SIZE, defect=True))).detections)
    good = judge.judge(detector.detect(_frame(surface(903, SIZE))).detections)
    assert bad.verdict.status is status and "anomaly" in bad.verdict.summary
    assert good.verdict.status is VerdictStatus.PASS


def test_colour_model_takes_bgr_frames(colour_model_path: Path) -> None:
    colour = AnomalyDetector(colour_model_path)
    assert colour.detect(_frame(surface(0, (64, 64), defect=True, mono=False))).detections
    with pytest.raises(DataError, match="1-channel image.*3-channel"):
        colour.detect(_frame(surface(0, (64, 64))))


def test_no_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no anomaly model"):
        create_adapter("detector", Options())
    with pytest.raises(ConfigError, match="recipe's model yolo.pt is not an anomaly model"):
        create_adapter("detector", Options(), model_path=Path("yolo.pt"))


def test_unknown_option_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="detector.treshold: unknown key"):
        validate_model(Options, {"kind": "anomaly", "treshold": 3}, "station.yaml", "detector")


def test_heatmap_overlay_marks_the_defect(detector: AnomalyDetector) -> None:
    from inspection.anomaly.overlay import heatmap_overlay

    image = surface(904, SIZE, defect=True, at=(50, 110))
    detector.detect(_frame(image))
    assert detector.last_result is not None
    out = heatmap_overlay(image, detector.last_result, detector.meta.border_px)
    assert out.shape == (*SIZE, 3) and out.dtype == np.uint8
    ys, xs = np.nonzero(np.all(out == 255, axis=2))  # the white outline of the anomalous region
    assert len(xs) > 0
    assert abs(xs.mean() - 50) <= 20 and abs(ys.mean() - 110) <= 20


def test_a_recipe_with_flips_or_tiles_is_refused_on_the_anomaly_detector(anomaly_model_path: Path) -> None:
    """The anomaly model scores whole frames: a recipe tuned with tiles or test-time flips must not run on it
    without them."""
    raw = {"kind": "anomaly", "model": str(anomaly_model_path), "threads": 1}
    options = validate_model(adapter_module("detector", "anomaly").Options, raw, "test.yaml", "detector")
    flips = Recipe(name="surface", tta=TtaOptions(flips=["hflip"]))
    with pytest.raises(ConfigError, match=r"tta: needs a YOLO detector \(kind: ultralytics"):
        create_detector(options, flips, None)
    tiles = Recipe(name="surface", tiling=TilingOptions(tile_px=64, overlap_px=8))
    with pytest.raises(ConfigError, match="tiling: needs an exported-model detector"):
        create_detector(options, tiles, None)
