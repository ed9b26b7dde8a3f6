"""The anomaly model file: round trip, bad files, and images the model cannot judge."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inspection.anomaly import (
    AnomalyMeta,
    AnomalyModel,
    AnomalyRuntime,
    check_image,
    confidence,
    load_npz_model,
    preprocess,
)
from inspection.anomaly.testing import surface
from inspection.errors import DataError, ModelError

META = AnomalyMeta(imgsz=64, image_shape=(48, 80), channels=1, threshold=10.0, score_median=6.0)


def test_save_load_round_trip_keeps_threshold_and_bank(tmp_path: Path) -> None:
    bank = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    model = AnomalyModel(replace(META, metrics={"n_val": 3.0}, threshold_rule="max"), bank)
    loaded = load_npz_model(model.save(tmp_path / "m.npz"))
    assert loaded.meta == model.meta
    np.testing.assert_array_equal(loaded.memory_bank, bank)


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist.*station anomaly fit"):
        load_npz_model(tmp_path / "nope.npz")


def test_other_npz_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ModelError, match="not an anomaly model"):
        load_npz_model(path)


def test_garbage_file_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(ModelError, match="not an anomaly model file"):
        load_npz_model(path)


def test_future_format_is_refused(tmp_path: Path) -> None:
    path = AnomalyModel(replace(META, format="inspection-anomaly/99"), np.zeros((2, 3), np.float32)).save(
        tmp_path / "m.npz")
    with pytest.raises(ModelError, match="format.*refit"):
        load_npz_model(path)


def test_save_needs_npz_suffix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"\.npz"):
        AnomalyModel(META, np.zeros((2, 3), np.float32)).save(tmp_path / "m.pt")


def test_unknown_runtime_suffix(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    path.write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown anomaly model type"):
        AnomalyRuntime(path)


@pytest.mark.parametrize(("image", "match"), [
    (np.zeros((48, 80, 3), np.uint8), "3-channel image.*1-channel"),
    (np.zeros((64, 64), np.uint8), "64×64 px.*fitted on 80×48"),
    (np.zeros((48, 80), np.float32), "8-bit"),
])
def test_check_image_refuses_what_the_model_cannot_judge(image: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        check_image(image, META)


def test_confidence_puts_threshold_at_half_and_median_at_zero() -> None:
    assert confidence(10.0, META) == pytest.approx(0.5)
    assert confidence(6.0, META) == pytest.approx(0.0)
    assert confidence(12.0, META) == pytest.approx(0.75)
    assert confidence(100.0, META) == 1.0


def test_runtime_scores_defect_above_threshold_and_good_below(anomaly_model_path: Path) -> None:
    runtime = AnomalyRuntime(anomaly_model_path)
    good = runtime.analyse(surface(500, (160, 160)))
    bad = runtime.analyse(surface(501, (160, 160), defect=True, at=(40, 110)))
    assert not good.is_anomalous and bad.is_anomalous
    assert bad.anomaly_map.shape == (128, 128)
    y, x = np.unravel_index(np.argmax(bad.anomaly_map), bad.anomaly_map.shape)
    # the map's peak is on the blob (frame (40, 110) → map (32, 88) at 128/160 scale)
    assert abs(x - 32) <= 12 and abs(y - 88) <= 12


def test_runtime_refuses_model_fitted_for_another_image_size(anomaly_model_path: Path) -> None:
    runtime = AnomalyRuntime(anomaly_model_path)
    with pytest.raises(DataError, match="fitted on 160×160"):
        runtime.analyse(surface(0, (200, 160)))


def test_chunked_nearest_neighbour_equals_one_block(anomaly_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from inspection.anomaly.network import PatchCoreScorer, scorer_for

    model = load_npz_model(anomaly_model_path)
    scorer = scorer_for(model)
    images = [surface(i, (160, 160), defect=bool(i % 2)) for i in range(3)]
    batch = torch.from_numpy(preprocess(images, model.meta))
    with torch.inference_mode():
        whole = scorer(batch)
        monkeypatch.setattr(PatchCoreScorer, "CHUNK", 100)  # 3 images × 16×16 patches → 8 blocks
        chunked = scorer(batch)
    torch.testing.assert_close(chunked[0], whole[0])
    torch.testing.assert_close(chunked[1], whole[1])


@pytest.mark.parametrize(("change", "message"), [
    ("bank_nan", "memory bank holds NaN or infinite values"),
    ("bank_inf", "memory bank holds NaN or infinite values"),
    ("pixel_std_0", "pixel_std must be a finite positive number"),
    ("threshold_negative", "threshold must be a finite score >= 0"),
])
def test_a_damaged_model_that_would_pass_every_part_is_refused_at_load(tmp_path: Path, change: str,
                                                                      message: str) -> None:
    """One NaN row in the bank (or pixel_std 0) made every score NaN, and NaN >= threshold is False: every
    part, blank ones included, passed."""
    bank = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    meta = META
    if change.startswith("bank"):
        bank[3] = np.nan if change == "bank_nan" else np.inf
    elif change == "pixel_std_0":
        meta = replace(META, pixel_std=1.0)  # a valid file first, edited below
    else:
        meta = replace(META, threshold=1.0)
    path = tmp_path / "m.npz"
    with open(path, "wb") as handle:  # written as an edited file would be, past the constructor's checks
        text = meta.to_json().replace('"pixel_std": 1.0', '"pixel_std": 0.0').replace('"threshold": 1.0',
                                                                                      '"threshold": -1.0')
        np.savez_compressed(handle, memory_bank=bank, meta=np.array(text))
    with pytest.raises(ModelError, match=message):
        load_npz_model(path)


def test_a_nan_score_is_never_a_pass() -> None:
    from inspection.anomaly.runtime import AnomalyResult

    assert AnomalyResult(float("nan"), 0.0, 10.0, np.zeros((4, 4), np.float32)).is_anomalous


def test_a_sliver_of_an_image_is_refused_not_scored_in_thousands_of_windows() -> None:
    from inspection.anomaly.model import windows_for

    meta = replace(META, aspect="windows")
    assert len(windows_for(64, 640, meta)) <= 32
    with pytest.raises(DataError, match="would be scored in .* windows"):
        windows_for(2, 4000, meta)
