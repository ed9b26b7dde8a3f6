"""Evaluation metrics on hand-made predictions: escape and false-reject rates, per-class P/R, mAP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.evaluate import Labels, compute_metrics, image_outcomes, metrics_table, write_report

NAMES = {0: "bridge", 1: "void"}


def _case() -> tuple[list[Labels], list[Labels]]:
    truths = [
        Labels.of([[10, 10, 50, 50]], [0]),  # defective, found -> ok-reject
        Labels.of([[10, 10, 50, 50]], [1]),  # defective, only a weak detection -> escape
        Labels.empty(),  # good, confident false detection -> false-reject
        Labels.empty(),  # good, weak detection only -> ok-pass
    ]
    preds = [
        Labels.of([[12, 11, 50, 52]], [0], [0.9]),
        Labels.of([[10, 10, 50, 50]], [1], [0.1]),
        Labels.of([[60, 60, 80, 80]], [0], [0.6]),
        Labels.of([[60, 60, 80, 80]], [1], [0.2]),
    ]
    return truths, preds


def test_outcomes_at_threshold() -> None:
    truths, preds = _case()
    outcomes = image_outcomes(["a", "b", "c", "d"], truths, preds, np.array([0.25, 0.25], np.float32))
    assert [r.outcome for r in outcomes] == ["ok-reject", "escape", "false-reject", "ok-pass"]


def test_rates_and_per_class() -> None:
    truths, preds = _case()
    report, _, _ = compute_metrics(truths, preds, NAMES, conf=0.25)
    assert report.escape_rate == pytest.approx(0.5)
    assert report.false_reject_rate == pytest.approx(0.5)
    assert report.per_class["bridge"]["precision"] == pytest.approx(0.5)  # one hit, one false alarm
    assert report.per_class["bridge"]["recall"] == pytest.approx(1.0)
    assert report.per_class["void"]["recall"] == 0.0  # its only detection is under the threshold
    assert report.confusion[0][0] == 1 and report.confusion[1][2] == 1 and report.confusion[2][0] == 1


def test_per_class_thresholds_change_the_verdict() -> None:
    truths, preds = _case()
    report, _, _ = compute_metrics(truths, preds, NAMES, conf={"default": 0.25, "void": 0.05})
    assert report.escape_rate == 0.0
    assert report.false_reject_rate == 1.0  # the weak void detection on the good part now rejects it
    with pytest.raises(ValueError, match="unknown classes"):
        compute_metrics(truths, preds, NAMES, conf={"crack": 0.5})


def test_perfect_predictions_give_map_one() -> None:
    truths = [Labels.of([[0, 0, 20, 20], [30, 30, 60, 70]], [0, 1]), Labels.empty()]
    preds = [Labels.of([[0, 0, 20, 20], [30, 30, 60, 70]], [0, 1], [0.9, 0.8]), Labels.empty()]
    report, _, _ = compute_metrics(truths, preds, NAMES)
    assert report.map50 == pytest.approx(1.0, abs=0.01) and report.map50_95 == pytest.approx(1.0, abs=0.01)
    assert report.escape_rate == 0.0 and report.false_reject_rate == 0.0


def test_report_folder(tmp_path: Path) -> None:
    truths, preds = _case()
    report, images, curves = compute_metrics(truths, preds, NAMES, image_names=["a", "b", "c", "d"])
    out = write_report(report, images, curves, tmp_path / "report")
    for name in ("metrics.json", "metrics.md", "images.csv", "pr_curve.png", "confusion_matrix.png"):
        assert (out / name).stat().st_size > 0
    assert "escape rate" in metrics_table(report)


def test_recipe_thresholds_leave_out_the_anomaly_class() -> None:
    """The paint demo recipe also rules the anomaly model's class; a YOLO model under evaluation has none."""
    from training.evaluate import thresholds_from_recipe

    recipe = Path(__file__).resolve().parents[2] / "inspection" / "demo" / "recipes" / "paint.yaml"
    table = thresholds_from_recipe(recipe)
    assert "anomaly" not in table and {"run", "crater", "default"} <= set(table)


def _split(root: Path, names: list[str], images: int, label: str = "") -> Path:
    import cv2
    import yaml

    (root / "images" / "test").mkdir(parents=True)
    (root / "labels" / "test").mkdir(parents=True)
    for i in range(images):
        cv2.imwrite(str(root / "images" / "test" / f"p{i}.png"), np.zeros((64, 64, 3), np.uint8))
        (root / "labels" / "test" / f"p{i}.txt").write_text(label)
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root), "test": "images/test", "names": names}))
    return data


def test_evaluate_refuses_what_would_give_meaningless_numbers(tmp_path: Path, tiny_model: Path) -> None:
    """An empty split scored as a report with rc 0; a label class the data set does not name was an
    IndexError; a model whose classes differ from the data's was scored against the wrong labels."""
    from training.evaluate import evaluate

    tiny = ["bridge", "insufficient", "missing"]  # the tiny model's classes (tests/conftest.py)
    with pytest.raises(ValueError, match="holds no images"):
        evaluate(_split(tmp_path / "empty", tiny, 0), tiny_model, out_dir=tmp_path / "r0", device="cpu")
    with pytest.raises(ValueError, match="class 5 is not among the 3 classes"):
        evaluate(_split(tmp_path / "c5", tiny, 1, "5 0.5 0.5 0.2 0.2\n"), tiny_model, out_dir=tmp_path / "r1",
                 device="cpu")
    with pytest.raises(ValueError, match="class 0 is 'bridge' in the model but 'dent' in the data set"):
        evaluate(_split(tmp_path / "other", ["dent", "hole", "scratch"], 1), tiny_model, out_dir=tmp_path / "r2",
                 device="cpu")
