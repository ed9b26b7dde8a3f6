"""The anomaly model's compact heat map: detector → Inspection (straight path and concurrent runtime) →
image archive, and the pure blending function the console draws it with."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.anomaly.detector import AnomalyDetector, Options
from inspection.anomaly.overlay import HEAT_AT_THRESHOLD, blend_heatmap, compact_heatmap, heatmap_overlay
from inspection.anomaly.runtime import AnomalyResult
from inspection.anomaly.testing import surface
from inspection.config import load_station_config
from inspection.domain.types import Frame, Inspection, Verdict
from inspection.records.store import heatmap_path
from inspection.runtime.pipeline import Station

SIZE = (160, 160)
DEFECT_AT = (120, 40)  # x, y of the dark blob in frame pixels


@pytest.fixture(scope="module")
def detector(anomaly_model_path: Path) -> AnomalyDetector:
    return AnomalyDetector(anomaly_model_path, Options(threads=1))


def _frame(image: np.ndarray, sequence: int = 1) -> Frame:
    return Frame(image, "cam0", sequence, time.time())


def _heat_at(heat: np.ndarray, xy: tuple[int, int], frame_shape: tuple[int, int], radius: int = 2) -> int:
    """Largest heat value around a frame point (the map covers the whole frame, stretched)."""
    sy, sx = heat.shape[0] / frame_shape[0], heat.shape[1] / frame_shape[1]
    cx, cy = int(xy[0] * sx), int(xy[1] * sy)
    return int(heat[max(cy - radius, 0):cy + radius + 1, max(cx - radius, 0):cx + radius + 1].max())


def test_station_inspection_carries_a_heatmap_hot_where_the_defect_is(tmp_path: Path,
                                                                      anomaly_model_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    cv2.imwrite(str(tmp_path / "parts" / "part0.png"), surface(910, SIZE))  # the camera needs one to open
    (tmp_path / "recipe.yaml").write_text("name: panel\nclasses:\n  anomaly: {action: fail}\n")
    (tmp_path / "station.yaml").write_text(
        f"recipe: recipe.yaml\ndata_dir: {tmp_path / 'data'}\n"
        "cameras:\n  - {kind: replay, path: parts, pixel_format: mono8}\n"
        f"detector: {{kind: anomaly, model: {anomaly_model_path}, threads: 1}}\n")
    with Station(load_station_config(tmp_path / "station.yaml")) as station:
        bad = station.inspect(_frame(surface(911, SIZE, defect=True, at=DEFECT_AT)))
        good = station.inspect(_frame(surface(903, SIZE), 2))  # a good part the model passes
    for inspection in (bad, good):
        heat = inspection.heatmap
        assert heat is not None and heat.dtype == np.uint8 and heat.ndim == 2
        assert max(heat.shape) <= 128 and not heat.flags.writeable
    assert bad.verdict.status.rejects and not good.verdict.status.rejects
    assert _heat_at(bad.heatmap, DEFECT_AT, SIZE) >= HEAT_AT_THRESHOLD
    assert _heat_at(bad.heatmap, (40, 120), SIZE) < HEAT_AT_THRESHOLD  # far from the blob: below threshold
    assert int(good.heatmap.max()) < HEAT_AT_THRESHOLD


def test_runtime_passes_the_heatmap_on_and_the_archive_keeps_it_beside_failures(
        tmp_path: Path, anomaly_model_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(3):  # part 1 has a defect
        cv2.imwrite(str(parts / f"part{i}.png"), surface(720 + i, SIZE, defect=i == 1, at=DEFECT_AT))
    (tmp_path / "recipe.yaml").write_text("name: panel\nclasses:\n  anomaly: {action: fail}\n")
    (tmp_path / "station.yaml").write_text(
        f"recipe: recipe.yaml\ndata_dir: {tmp_path / 'data'}\nstore: {{keep_images: failures}}\n"
        "cameras:\n  - {kind: replay, path: parts, pixel_format: mono8}\n"
        f"detector: {{kind: anomaly, model: {anomaly_model_path}, threads: 1}}\n")
    seen: list[Inspection] = []
    with Station(load_station_config(tmp_path / "station.yaml")) as station:
        station.listeners.append(seen.append)
        station.run()
        assert station.store is not None
        rows = station.store.query("select verdict, image_path from inspections order by id")
    assert len(seen) == 3 and all(i.heatmap is not None for i in seen)
    failed = [r for r in rows if r["verdict"] == "FAIL"]
    assert len(failed) == 1 and failed[0]["image_path"]
    saved = cv2.imread(str(heatmap_path(failed[0]["image_path"])), cv2.IMREAD_UNCHANGED)
    shown = next(i for i in seen if i.verdict.status.rejects)
    assert saved is not None and saved.dtype == np.uint8 and saved.ndim == 2
    assert np.array_equal(saved, shown.heatmap)  # lossless: the failure view later shows what was live


def test_compact_heatmap_scale_border_and_block_maximum() -> None:
    amap = np.full((256, 256), 5.0, np.float32)
    amap[100, 201] = 10.0  # one pixel at the threshold: must survive the 2× downscale
    amap[0:4, :] = 40.0  # in the unscored border
    heat = compact_heatmap(AnomalyResult(10.0, 0.5, 10.0, amap), border_px=8)
    assert heat.shape == (128, 128) and heat.dtype == np.uint8
    assert heat[50, 100] == HEAT_AT_THRESHOLD
    assert heat[20, 20] == 64  # half the threshold
    assert heat[0:4].max() == 0  # border left out, like the regions
    twice = compact_heatmap(AnomalyResult(30.0, 1.0, 10.0, np.full((64, 48), 30.0, np.float32)))
    assert twice.shape == (64, 48) and twice.max() == 255  # 3× the threshold clips at 255, small maps stay native


def test_blend_heatmap_colours_follow_the_threshold_like_the_raw_overlay(detector: AnomalyDetector) -> None:
    image = surface(913, SIZE, defect=True, at=(50, 110))
    out = detector.detect(_frame(image))
    assert out.heatmap is not None and detector.last_result is not None
    blended = blend_heatmap(image, out.heatmap)
    assert blended.shape == (*SIZE, 3) and blended.dtype == np.uint8
    ys, xs = np.nonzero(np.all(blended == 255, axis=2))  # white outline of the region at/above threshold
    assert len(xs) > 0 and abs(xs.mean() - 50) <= 20 and abs(ys.mean() - 110) <= 20
    raw = heatmap_overlay(image, detector.last_result, detector.meta.border_px)
    inner = (slice(24, -24), slice(24, -24))  # away from the border, which the compact map zeroes
    assert np.abs(raw[inner].astype(int) - blended[inner].astype(int)).mean() < 6  # same colour meaning
    plain = blend_heatmap(image, np.zeros((8, 8), np.uint8), outline=False)
    assert plain[..., 0].mean() > plain[..., 2].mean()  # nothing unusual: blue, not red


@pytest.mark.parametrize(("image", "heat", "match"), [
    (np.zeros((8, 8), np.uint8), np.zeros((4, 4), np.float32), "2-D uint8 heat map"),
    (np.zeros((8, 8), np.uint8), np.zeros((4, 4, 3), np.uint8), "2-D uint8 heat map"),
    (np.zeros((8, 8), np.float32), np.zeros((4, 4), np.uint8), "uint8 mono or BGR image"),
])
def test_blend_heatmap_refuses_bad_input(image: np.ndarray, heat: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        blend_heatmap(image, heat)


def test_inspection_refuses_a_heatmap_that_is_not_uint8_2d() -> None:
    frame = _frame(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="Inspection.heatmap: expected a non-empty 2-D uint8 array, got float32"):
        Inspection(frame, (), Verdict.passed(), heatmap=np.zeros((4, 4), np.float32))
    kept = Inspection(frame, (), Verdict.passed(), heatmap=np.ones((4, 4), np.uint8))
    assert kept.heatmap is not None and not kept.heatmap.flags.writeable
    assert Inspection(frame, (), Verdict.passed()).heatmap is None
