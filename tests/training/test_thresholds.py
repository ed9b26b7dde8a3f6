"""Threshold tuning on hand-made predictions: escape target first, then the fewest false rejects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from training.evaluate import Labels
from training.thresholds import tune_thresholds, tuned_recipe, tuning_table

NAMES = {0: "bridge", 1: "void"}
BOX = [[10, 10, 40, 40]]


def _split() -> tuple[list[Labels], list[Labels]]:
    truths = [
        Labels.of(BOX, [0]),  # bridges found at 0.9, 0.6, 0.3
        Labels.of(BOX, [0]),
        Labels.of(BOX, [0]),
        Labels.of(BOX, [1]),  # a void found at 0.5
        Labels.empty(),  # good parts: void noise at 0.4, bridge noise at 0.2
        Labels.empty(),
    ]
    preds = [
        Labels.of(BOX, [0], [0.9]),
        Labels.of(BOX, [0], [0.6]),
        Labels.of(BOX, [0], [0.3]),
        Labels.of(BOX, [1], [0.5]),
        Labels.of(BOX, [1], [0.4]),
        Labels.of(BOX, [0], [0.2]),
    ]
    return truths, preds


def test_zero_escapes_then_fewest_false_rejects() -> None:
    truths, preds = _split()
    tuning = tune_thresholds(truths, preds, NAMES, max_escape=0.0)
    # One threshold for all: 0.3 keeps every defect but the void noise (0.4) rejects a good part.
    # Per class, void can rise to 0.5: the void defect still rejects, the noise no longer does.
    assert tuning.met
    assert tuning.chosen.thresholds == pytest.approx({"bridge": 0.3, "void": 0.5})
    assert tuning.chosen.escape_rate == 0.0 and tuning.chosen.false_reject_rate == 0.0
    single = {round(next(iter(p.thresholds.values())), 2): p for p in tuning.curve}
    assert single[0.3].escape_rate == 0.0 and single[0.3].false_reject_rate == 0.5
    assert single[0.2].false_reject_rate == 1.0


def test_looser_target_allows_higher_thresholds() -> None:
    truths, preds = _split()
    tuning = tune_thresholds(truths, preds, NAMES, max_escape=0.25)  # one of four defective may pass
    # but each class must still find its own defects: one of three bridges missed would be 33 % for bridges
    assert tuning.met and tuning.chosen.escape_rate == 0.0 and tuning.chosen.false_reject_rate == 0.0
    assert tuning.chosen.thresholds == pytest.approx({"bridge": 0.3, "void": 0.5})
    lone = tune_thresholds(truths[:3] + truths[4:], preds[:3] + preds[4:], NAMES, max_escape=0.34)
    assert lone.chosen.thresholds["bridge"] == pytest.approx(0.6)  # now one bridge of three may be missed
    assert lone.chosen.escape_rate == pytest.approx(1 / 3)


def test_unreachable_target_reports_the_lowest_escape() -> None:
    truths = [Labels.of(BOX, [0]), Labels.empty()]
    preds = [Labels.empty(), Labels.of(BOX, [0], [0.8])]  # the defect is never seen
    tuning = tune_thresholds(truths, preds, NAMES, max_escape=0.0)
    assert not tuning.met and tuning.chosen.escape_rate == 1.0
    assert "NOT within" in tuning_table(tuning)


def test_ignored_classes_never_reject_and_stay_out() -> None:
    truths, preds = _split()
    tuning = tune_thresholds(truths, preds, NAMES, max_escape=0.0, ignored=["void"])
    assert "void" not in tuning.chosen.thresholds
    assert not tuning.met  # the void defect can no longer be caught
    with pytest.raises(ValueError, match="not classes of the model"):
        tune_thresholds(truths, preds, NAMES, max_escape=0.0, ignored=["crack"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        tune_thresholds(truths, preds, NAMES, max_escape=1.5)
    with pytest.raises(ValueError, match="max_class_miss"):
        tune_thresholds(truths, preds, NAMES, max_escape=0.0, max_class_miss=-0.1)


def test_tuned_recipe_keeps_other_rules(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "name: r\nmodel: model.pt\ndefault:\n  min_confidence: 0.5\n"
        "classes:\n  void:\n    min_confidence: 0.5\n    min_area_px: 9\n"
    )
    truths, preds = _split()
    out = tuned_recipe(recipe, tune_thresholds(truths, preds, NAMES, 0.0), tmp_path / "report" / "tuned.yaml")
    raw = yaml.safe_load(out.read_text())
    assert raw["classes"]["void"] == {"min_confidence": 0.5, "min_area_px": 9}
    assert raw["classes"]["bridge"] == {"min_confidence": 0.3}
    assert Path(raw["model"]) == (tmp_path / "model.pt").resolve()


@pytest.mark.slow
def test_eval_cli_tunes_a_real_model(tmp_path: Path) -> None:
    """station eval --tune-escape on the shipped solder model and a few rendered parts."""
    from inspection.cli import station
    from inspection.simulation.synthetic import generator_for, write_yolo_dataset

    demo = Path(__file__).resolve().parents[2] / "inspection" / "demo"
    data = write_yolo_dataset(generator_for("solder", seed=99, imgsz=320), tmp_path / "data", 2, 12, "detect")
    result = CliRunner().invoke(
        station,
        ["eval", "--data", str(data), "--model", str(demo / "models" / "solder_yolov8n.pt"), "--split", "val",
         "--recipe", str(demo / "recipes" / "solder.yaml"), "--tune-escape", "0.1", "--out", str(tmp_path / "rep")],
    )
    assert result.exit_code == 0, result.output
    assert "chosen thresholds" in result.output
    tuned = yaml.safe_load((tmp_path / "rep" / "tuned-solder.yaml").read_text())
    assert set(tuned["classes"]) >= {"bridge", "solder_ball"}
    assert (tmp_path / "rep" / "thresholds.md").read_text().startswith("| threshold |")


def test_a_class_is_not_switched_off_because_its_defects_came_with_others() -> None:
    """Balls only ever appear with a bridge here, and ball noise rejects a good part: raising the ball
    threshold to 0.95 would keep the split's escape rate at 0, yet a lone ball on the line would pass."""
    names = {0: "bridge", 1: "ball"}
    truths = [Labels.of(BOX * 2, [0, 1]), Labels.of(BOX * 2, [0, 1]), Labels.empty()]
    preds = [Labels.of(BOX * 2, [0, 1], [0.9, 0.5]), Labels.of(BOX * 2, [0, 1], [0.9, 0.5]),
             Labels.of(BOX, [1], [0.3])]
    tuning = tune_thresholds(truths, preds, names, max_escape=0.0)
    assert tuning.chosen.thresholds["ball"] == pytest.approx(0.5)  # up to its own weakest defect, no further
    assert tuning.chosen.false_reject_rate == 0.0


def test_a_split_without_good_images_takes_each_classs_best_f1_not_the_bottom_of_the_grid() -> None:
    far = [[100, 100, 130, 130]]
    truths = [Labels.of(BOX, [0]), Labels.of(BOX, [0]), Labels.of(BOX, [1]), Labels.of(BOX, [1])]
    preds = [
        Labels.of(BOX + far, [0, 0], [0.8, 0.3]),  # a bridge at 0.8 and a false bridge elsewhere at 0.3
        Labels.of(BOX + far, [0, 0], [0.7, 0.2]),
        Labels.of(BOX + far, [1, 1], [0.45, 0.1]),  # voids at 0.45 and 0.6, false voids at 0.1 and 0.4
        Labels.of(BOX + far, [1, 1], [0.6, 0.4]),
    ]
    tuning = tune_thresholds(truths, preds, NAMES, max_escape=0.05)
    # Escapes alone would take 0.01 (every image is defective); best F1 drops the false boxes instead.
    assert tuning.basis == "f1" and tuning.met
    assert tuning.chosen.thresholds == pytest.approx({"bridge": 0.7, "void": 0.45})
    assert tuning.chosen.escape_rate == 0.0 and tuning.chosen.false_reject_rate is None
    assert "No good images" in tuning_table(tuning)
    missed = tune_thresholds(truths[:2], [Labels.empty(), preds[1]], NAMES, max_escape=0.05)
    assert missed.basis == "f1" and not missed.met and missed.chosen.escape_rate == 0.5
