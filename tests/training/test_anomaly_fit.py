"""Fitting anomaly models: threshold from held-out good images, coreset, AUROC, bad good-folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inspection.anomaly import AnomalyRuntime
from inspection.anomaly.testing import surface, write_images
from inspection.errors import DataError
from training.anomaly import (
    MIN_GOOD_IMAGES,
    FitConfig,
    auroc,
    evaluate,
    fit_anomaly,
    fit_folder,
    greedy_coreset,
    pixel_auroc,
    read_folder,
)

SIZE = (96, 96)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # shared CPU: one thread is faster than two fighting for it


def test_fit_stores_held_out_threshold_and_separates_defects(tmp_path: Path) -> None:
    good = write_images(tmp_path / "good", [surface(i, SIZE) for i in range(12)])
    report = fit_folder(good, tmp_path / "m.npz", FitConfig(imgsz=96, val_fraction=0.25))
    meta = report.model.meta
    assert (report.n_fit, report.n_val) == (9, 3)
    assert meta.threshold == pytest.approx(report.val_scores.max())  # default rule: max of held-out good scores
    assert "held-out" in meta.threshold_rule and meta.metrics["n_val"] == 3
    assert meta.image_shape == SIZE and meta.channels == 1 and meta.imgsz == 96
    runtime = AnomalyRuntime(tmp_path / "m.npz")
    result = evaluate(runtime, [surface(100 + i, SIZE) for i in range(5)],
                      [surface(200 + i, SIZE, defect=True) for i in range(5)])
    assert result.auroc > 0.9
    assert result.escape_rate == 0.0
    assert 0.0 <= result.false_reject_rate <= 0.4


def test_quantile_threshold_is_lower_than_max() -> None:
    images = [surface(i, SIZE) for i in range(10)]
    strict = fit_anomaly(images, FitConfig(imgsz=64, val_fraction=0.4)).model.meta
    loose = fit_anomaly(images, FitConfig(imgsz=64, val_fraction=0.4, threshold_quantile=0.5)).model.meta
    assert loose.threshold < strict.threshold and "quantile" in loose.threshold_rule


def test_too_few_good_images(tmp_path: Path) -> None:
    good = write_images(tmp_path / "good", [surface(i, SIZE) for i in range(MIN_GOOD_IMAGES - 1)])
    with pytest.raises(DataError, match=f"{MIN_GOOD_IMAGES - 1} good images, need at least {MIN_GOOD_IMAGES}"):
        fit_folder(good, tmp_path / "m.npz")


def test_mixed_sizes_are_refused_when_one_size_is_asked_for(tmp_path: Path) -> None:
    images = [surface(i, SIZE) for i in range(9)] + [surface(9, (96, 128))]
    with pytest.raises(DataError, match=r"009.png: shape \(96, 128\) differs"):
        fit_folder(write_images(tmp_path / "good", images), tmp_path / "m.npz", FitConfig(fixed_size=True))


# different sizes and aspect ratios, as crops of a real surface set come (NEU-DET is 200×200, others vary)
MIXED = [(72, 72), (96, 96), (128, 128), (96, 144), (160, 112), (80, 120)]


def test_mixed_sizes_fit_a_model_that_takes_any_size(tmp_path: Path) -> None:
    good = write_images(tmp_path / "good", [surface(i, MIXED[i % len(MIXED)]) for i in range(12)])
    report = fit_folder(good, tmp_path / "m.npz", FitConfig(imgsz=96, val_fraction=0.25))  # defaults otherwise
    meta = report.model.meta
    assert meta.any_size and meta.image_shape == (0, 0) and "any size" in meta.shape_text
    runtime = AnomalyRuntime(tmp_path / "m.npz")
    # new parts of sizes never seen in the fit: scored, and the defects stand out
    sizes = [(88, 88), (120, 100), (96, 160), (144, 144), (100, 76)]
    result = evaluate(runtime, [surface(100 + i, s) for i, s in enumerate(sizes)],
                      [surface(200 + i, s, defect=True) for i, s in enumerate(sizes)])
    assert result.auroc > 0.9 and result.escape_rate <= 0.2
    assert runtime.analyse(surface(300, (64, 200), defect=True, at=(100, 32))).is_anomalous


def test_one_size_folder_binds_the_model_unless_any_size_is_asked_for(tmp_path: Path) -> None:
    images = [surface(i, SIZE) for i in range(9)]
    assert fit_anomaly(images, FitConfig(imgsz=64)).model.meta.image_shape == SIZE
    assert fit_anomaly(images, FitConfig(imgsz=64, fixed_size=False)).model.meta.any_size


def test_mixed_channel_counts_are_refused(tmp_path: Path) -> None:
    images = [surface(i, SIZE) for i in range(9)] + [surface(9, SIZE, mono=False)]
    with pytest.raises(DataError, match="differs.*one channel count"):
        fit_folder(write_images(tmp_path / "good", images), tmp_path / "m.npz")


def test_alpha_channel_is_refused(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "good", [surface(i, SIZE) for i in range(9)])
    cv2.imwrite(str(folder / "rgba.png"), np.zeros((*SIZE, 4), np.uint8))
    with pytest.raises(DataError, match="rgba.png: 4-channel image"):
        fit_folder(folder, tmp_path / "m.npz")


def test_unreadable_image_and_missing_folder(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "good", [surface(i, SIZE) for i in range(9)])
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        fit_folder(folder, tmp_path / "m.npz")
    with pytest.raises(DataError, match="not a folder"):
        fit_folder(tmp_path / "absent", tmp_path / "m.npz")


@pytest.mark.parametrize("imgsz", [100, 16, 2048])
def test_bad_imgsz(imgsz: int) -> None:
    with pytest.raises(DataError, match="multiple of 32"):
        FitConfig(imgsz=imgsz)


def test_greedy_coreset_covers_the_outliers() -> None:
    rng = np.random.default_rng(0)
    cluster = rng.normal(0, 0.01, (200, 8)).astype(np.float32)
    outliers = np.eye(8, dtype=np.float32)[:3] * 10
    chosen = greedy_coreset(np.concatenate([cluster, outliers]), 4, projection_dim=0, seed=1)
    assert len(set(chosen.tolist())) == 4
    assert {200, 201, 202} <= set(chosen.tolist())  # k-center picks the far points first


@pytest.mark.parametrize(("good", "bad", "expected"), [
    ([1, 2, 3], [4, 5], 1.0), ([4, 5], [1, 2, 3], 0.0), ([1, 2], [1, 2], 0.5), ([1, 3], [2, 4], 0.75),
])
def test_auroc(good: list[float], bad: list[float], expected: float) -> None:
    assert auroc(np.array(good), np.array(bad)) == pytest.approx(expected)


@pytest.mark.parametrize("options", [
    {"gray": True, "standardize": True},
    {"pad_px": 32, "border_px": 4},
])
def test_runtime_reproduces_the_fit_scores_with_every_option(tmp_path: Path, options: dict[str, object]) -> None:
    images = [surface(i, (64, 64), mono=False) for i in range(8)]
    report = fit_anomaly(images, FitConfig(imgsz=64, seed=3, **options))  # type: ignore[arg-type]
    meta = report.model.meta
    assert all(getattr(meta, k) == v for k, v in options.items())
    runtime = AnomalyRuntime(report.model.save(tmp_path / "m.npz"))
    val = np.random.default_rng(3).permutation(len(images))[:report.n_val]
    _, scores = runtime.score_images([images[i] for i in val])
    np.testing.assert_allclose(scores, report.val_scores, rtol=1e-5)
    assert scores.max() == pytest.approx(meta.threshold, rel=1e-5)


def test_gray_saved_as_bgr_among_mono_is_read_as_mono_and_the_api_names_the_mix(tmp_path: Path) -> None:
    images = [surface(i, SIZE) for i in range(9)]
    images.append(cv2.cvtColor(surface(9, SIZE), cv2.COLOR_GRAY2BGR))  # as some DeepPCB JPEGs are stored
    folder = write_images(tmp_path / "good", images)
    report = fit_folder(folder, tmp_path / "m.npz", FitConfig(imgsz=64))
    assert report.model.meta.channels == 1 and report.n_fit + report.n_val == 10
    with pytest.raises(DataError, match="gray image saved with 3 channels"):  # arrays given to the API: named
        fit_anomaly(images, FitConfig(imgsz=64))


def test_a_mono_model_reads_a_folder_of_grey_bgr_images_as_mono_and_a_colour_one_is_left_alone(tmp_path: Path) -> None:
    grey_bgr = write_images(tmp_path / "grey", [cv2.cvtColor(surface(i, SIZE), cv2.COLOR_GRAY2BGR) for i in range(3)])
    assert all(image.ndim == 2 for image in read_folder(grey_bgr, channels=1)[1])
    assert all(image.ndim == 3 for image in read_folder(grey_bgr)[1])  # no mono asked for, none in the folder
    colour = write_images(tmp_path / "colour", [surface(i, SIZE, mono=False) for i in range(3)])
    assert all(image.ndim == 3 for image in read_folder(colour, channels=1)[1])  # true colour: the model refuses it


@pytest.mark.parametrize("bad", [np.zeros((64, 64, 4), np.uint8), np.zeros((64, 64), np.float32)])
def test_api_refuses_images_of_wrong_type(bad: np.ndarray) -> None:
    images = [surface(i, SIZE) for i in range(9)] + [bad]
    with pytest.raises(DataError, match="image 9: .*expected 8-bit mono"):
        fit_anomaly(images, FitConfig(imgsz=64))


def test_pixel_auroc_matches_the_rank_definition_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    maps = [np.round(rng.random((16, 16)), 1).astype(np.float32) for _ in range(3)]  # many ties
    masks = [np.zeros((32, 32), np.uint8), (rng.random((32, 32)) > 0.7).astype(np.uint8) * 255,
             np.zeros((32, 32), np.uint8)]
    truth = np.concatenate([cv2.resize((k > 0).astype(np.uint8), (16, 16), interpolation=cv2.INTER_NEAREST).ravel()
                            for k in masks])
    expected = roc_auc_score(truth, np.concatenate([m.ravel() for m in maps]))
    assert pixel_auroc(maps, masks) == pytest.approx(expected, abs=1e-9)
    with pytest.raises(DataError, match="all empty or full"):
        pixel_auroc(maps[:1], masks[:1])


def test_eval_gives_pixel_auroc_where_masks_exist(tmp_path: Path) -> None:
    images = [surface(i, SIZE) for i in range(10)]
    runtime = AnomalyRuntime(fit_anomaly(images, FitConfig(imgsz=64)).model.save(tmp_path / "m.npz"))
    spots = [(30 + 5 * i, 40) for i in range(4)]
    bad = [surface(200 + i, SIZE, defect=True, at=at) for i, at in enumerate(spots)]
    masks = []
    for x, y in spots:
        mask = np.zeros(SIZE, np.uint8)
        cv2.circle(mask, (x, y), 6, 255, -1)
        masks.append(mask)
    report = evaluate(runtime, [surface(100 + i, SIZE) for i in range(4)], bad, masks)
    assert report.pixel_auroc is not None and report.pixel_auroc > 0.9
    assert ("pixel AUROC", f"{report.pixel_auroc:.4f}") in report.rows()
    assert evaluate(runtime, bad[:1], bad[1:]).pixel_auroc is None
    with pytest.raises(DataError, match="1 defect masks for 4 bad images"):
        evaluate(runtime, bad[:1], bad, masks[:1])
