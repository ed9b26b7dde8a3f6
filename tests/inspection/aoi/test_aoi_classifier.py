"""The shipped joint classifier: loads from the repo + the backbone wheel, classifies crops, bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inspection.aoi.classifier import DEFAULT_MODEL, load_joint_classifier, preprocess_crops
from inspection.errors import ModelError

CLASSES = ("excessive_solder", "insufficient_solder", "normal", "shifted_component", "short")


def test_shipped_head_is_small_and_records_its_metrics() -> None:
    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size < 10_000_000
    classifier = load_joint_classifier()
    assert classifier.class_names == CLASSES and classifier.normal_class == "normal"
    assert {"split_seed", "accuracy", "macro_f1", "recall"} <= set(classifier.metrics)
    # aoi-joint-head/2: the last block + conv_head/bn1 tuned, probabilities averaged over the 4 flips.
    assert classifier.tuned_from_block == 15 and classifier.tta_views == ("orig", "hflip", "vflip", "rot180")


def test_preprocess_handles_mono_colour_and_tiny_crops() -> None:
    batch = preprocess_crops([np.zeros((17, 17), np.uint8), np.full((70, 40, 3), 255, np.uint8)], 64)
    assert batch.shape == (2, 3, 64, 64) and batch.dtype == np.float32
    assert batch[0].max() == pytest.approx(-127 / 128) and batch[1].min() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="crop 0 is empty"):
        preprocess_crops([np.zeros((0, 5, 3), np.uint8)], 64)


@pytest.mark.realdata
def test_shipped_classifier_recognises_real_crops(shared_data: Path) -> None:
    root = shared_data / "solder-joints"
    if not root.is_dir():
        pytest.skip(f"{root} absent: the real solder-joint crops are needed")
    crops, labels = [], []
    for index, name in enumerate(CLASSES):
        files = sorted((root / name).iterdir())[:4]
        crops += [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files]
        labels += [index] * len(files)
    probabilities = load_joint_classifier().probabilities(crops)
    assert probabilities.shape == (20, 5)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # A floor, not a benchmark: these may include training crops; the held-out numbers live in the .md.
    assert (probabilities.argmax(axis=1) == np.array(labels)).mean() >= 0.7


def test_missing_head_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="station joints train"):
        load_joint_classifier(tmp_path / "nope.pt")


def test_a_file_that_is_not_a_head_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="is not a joint-classifier head file"):
        load_joint_classifier(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(ModelError, match="expected format 'aoi-joint-head/1'"):
        load_joint_classifier(other)


def test_a_head_asking_for_an_unknown_test_time_view_is_refused(tmp_path: Path) -> None:
    record = torch.load(DEFAULT_MODEL, weights_only=True)
    record["tta_views"] = ["orig", "shear"]
    odd = tmp_path / "odd.pt"
    torch.save(record, odd)
    with pytest.raises(ModelError, match="unknown test-time view\\(s\\) shear"):
        load_joint_classifier(odd)


def test_a_v2_head_whose_tuned_layers_do_not_fit_is_refused(tmp_path: Path) -> None:
    record = torch.load(DEFAULT_MODEL, weights_only=True)
    record["tuned_from_block"] = 14  # the stored layers are those from block 15 on
    odd = tmp_path / "shifted.pt"
    torch.save(record, odd)
    with pytest.raises(ModelError, match="tuned backbone layers do not fit the wheel's backbone"):
        load_joint_classifier(odd)
