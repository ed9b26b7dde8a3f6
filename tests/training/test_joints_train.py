"""Joint-classifier training: stratified split, metrics, a tiny real training run, and the saved head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspection.aoi.classifier import JointClassifier
from inspection.errors import DataError
from training.joints import TrainConfig, compute_metrics, list_dataset, stratified_split, train_joint_classifier

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "solder-joints"


def test_stratified_split_keeps_every_class_and_is_seeded() -> None:
    labels = np.array([0] * 100 + [1] * 10 + [2] * 3)
    train, test = stratified_split(labels, 0.2, seed=0)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(113))
    assert [int((labels[test] == c).sum()) for c in range(3)] == [20, 2, 1]
    again, _ = stratified_split(labels, 0.2, seed=0)
    other, _ = stratified_split(labels, 0.2, seed=1)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_metrics_by_hand() -> None:
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 1, 1, 0, 2, 2])
    m = compute_metrics(truth, pred, ("normal", "short", "open"))
    assert m.accuracy == pytest.approx(6 / 8)
    assert m.recall == pytest.approx({"normal": 0.75, "short": 0.5, "open": 1.0})
    assert m.precision["normal"] == pytest.approx(0.75) and m.precision["short"] == pytest.approx(0.5)
    assert m.macro_f1 == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert "macro-F1 = 0.750" in m.lines()


def test_dataset_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        list_dataset(tmp_path / "nope")
    (tmp_path / "normal").mkdir()
    (tmp_path / "bridges").mkdir()
    with pytest.raises(DataError, match="sub-folder\\(s\\) bridges are not classes of the model"):
        list_dataset(tmp_path, class_names=("normal", "short"))
    with pytest.raises(DataError, match="no images"):
        list_dataset(tmp_path)


@pytest.mark.realdata
@pytest.mark.slow
def test_tiny_frozen_training_run_saves_a_loadable_v1_head(tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} absent: the real solder-joint crops are needed")
    out = tmp_path / "head.pt"
    config = TrainConfig(imgsz=64, epochs=40, limit_per_class=6, augment=False, threads=1, tune_from_block=None)
    lines: list[str] = []
    metrics = train_joint_classifier(SHARED, out, config, echo=lines.append, cache=tmp_path / "cache")
    assert set(metrics.support) == {"excessive_solder", "insufficient_solder", "normal", "shifted_component", "short"}
    assert all(n == 1 for n in metrics.support.values())  # round(6 * 0.2) = 1 held out per class
    assert 0.0 <= metrics.macro_f1 <= 1.0
    assert list((tmp_path / "cache").glob("joint_features_*.npz"))  # retraining reuses the features
    classifier = JointClassifier(out)
    assert classifier.imgsz == 64 and classifier.metrics["split_seed"] == 0 and classifier.tuned_from_block is None
    assert classifier.metrics["n_test"] == 5 and classifier.metrics["n_train"] == 25
