"""Images that are not square: scored in square windows of their short side ("windows" models), so texture
keeps its proportions; the windows' maps are stitched back onto the image's own pixels."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inspection.anomaly.detector import AnomalyDetector
from inspection.anomaly.model import AnomalyMeta, stitch, windows_for
from inspection.anomaly.runtime import AnomalyRuntime
from inspection.anomaly.testing import surface
from inspection.domain.types import Frame
from training.anomaly import FitConfig, evaluate, fit_anomaly

META = AnomalyMeta(imgsz=64, image_shape=(0, 0), channels=1, threshold=1.0, score_median=0.5, border_px=4,
                   aspect="windows")


@pytest.mark.parametrize(("height", "width"), [(64, 96), (96, 64), (100, 300), (120, 121), (50, 51 * 4)])
def test_windows_cover_the_image_with_overlap_beyond_the_unscored_bands(height: int, width: int) -> None:
    windows = windows_for(height, width, META)
    short, long = min(height, width), max(height, width)
    if long <= short * 1.05:  # square enough: the whole image, one pass
        assert windows == [(0, 0, 0)]
        return
    assert all(side == short for _, _, side in windows)
    starts = [x if width > height else y for y, x, _ in windows]
    assert starts[0] == 0 and starts[-1] + short == long  # flush with both ends
    band = META.border_px * short / META.imgsz  # the unscored band, in image pixels
    assert all(b - a <= short - 2 * band for a, b in itertools.pairwise(starts))


def test_stretch_models_keep_one_pass_per_image() -> None:
    assert windows_for(64, 200, replace(META, aspect="stretch")) == [(0, 0, 0)]


def test_stitch_puts_each_window_back_and_ignores_inner_edges() -> None:
    windows = windows_for(64, 96, META)  # two 64 px windows, at x 0 and 32
    assert [x for _, x, _ in windows] == [0, 32]
    maps = np.zeros((2, 64, 64), np.float32)
    maps[1, 10, 40] = 5.0  # a peak in the right window → image x 32 + 40
    maps[0, 20, 62] = 9.0  # in the left window's inner edge band: an artefact its neighbour sees better
    amap, score = stitch(maps, np.array([0.5, 5.0]), windows, (64, 96), META)
    assert amap.shape == (64, 96)
    assert amap[10, 72] == 5.0 and amap[20, 62] == 0.0
    assert score == 5.0  # the image's score is its highest window's


def test_models_saved_before_windows_existed_stretch() -> None:
    data = json.loads(META.to_json())
    del data["aspect"]
    assert AnomalyMeta.from_json(json.dumps(data), "old.npz").aspect == "stretch"


def test_windows_model_fits_mixed_aspects_and_finds_the_defect_where_it_is(tmp_path: Path) -> None:
    sizes = [(96, 96), (96, 144), (144, 96), (80, 120)]
    report = fit_anomaly([surface(i, sizes[i % 4]) for i in range(12)],
                         FitConfig(imgsz=96, val_fraction=0.25, aspect="windows"))
    assert report.model.meta.aspect == "windows"
    path = report.model.save(tmp_path / "m.npz")
    runtime = AnomalyRuntime(path)
    tests = [(90, 200), (120, 90), (96, 96)]
    result = evaluate(runtime, [surface(100 + i, s) for i, s in enumerate(tests)],
                      [surface(200 + i, s, defect=True) for i, s in enumerate(tests)])
    assert result.auroc == 1.0
    detector = AnomalyDetector(path)
    out = detector.detect(Frame(surface(300, (90, 240), defect=True, at=(200, 45)), "cam0", 0, 0.0))
    assert out.detections, "the defect at the far end of a wide image is found"
    box = out.detections[0].box
    assert box.x1 <= 200 <= box.x2 and box.y1 <= 45 <= box.y2  # in the frame's own pixels
    assert out.heatmap is not None and out.heatmap.shape[1] > out.heatmap.shape[0]  # the image's proportions
    maps, _ = runtime.score_images([surface(1, (90, 240)), surface(2, (96, 96))])
    assert isinstance(maps, list) and maps[0].shape == (96, 256) and maps[1].shape == (96, 96)


def test_the_default_is_one_stretched_pass_and_the_cli_can_ask_for_windows(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from inspection.anomaly.testing import write_images
    from inspection.cli import station

    assert fit_anomaly([surface(i, (80, 120)) for i in range(9)], FitConfig(imgsz=64)).model.meta.aspect == "stretch"
    good = write_images(tmp_path / "good", [surface(i, (64, 96)) for i in range(9)])
    result = CliRunner().invoke(station, ["anomaly", "fit", "--good", str(good), "--out", str(tmp_path / "w.npz"),
                                          "--imgsz", "64", "--aspect", "windows"])
    assert result.exit_code == 0, result.output
    assert "aspect        windows" in result.output
    assert AnomalyRuntime(tmp_path / "w.npz").meta.aspect == "windows"
