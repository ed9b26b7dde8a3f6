"""`station joints eval --model M --data DIR`: the contract scripts call (accuracy + `macro-F1 = X.XXX`, exit 0)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspection.aoi.classifier import DEFAULT_MODEL
from inspection.cli import station

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "solder-joints"


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 real crops per class, in the folder layout the contract names."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} absent: the real solder-joint crops are needed")
    root = tmp_path_factory.mktemp("joints")
    for folder in sorted(SHARED.iterdir()):
        if folder.is_dir():
            (root / folder.name).mkdir()
            for image in sorted(folder.iterdir())[-3:]:
                shutil.copy(image, root / folder.name / image.name)
    return root


@pytest.mark.realdata
def test_eval_with_model_prints_accuracy_and_macro_f1(small_set: Path) -> None:
    result = CliRunner().invoke(station, ["joints", "eval", "--model", str(DEFAULT_MODEL), "--data", str(small_set)])
    assert result.exit_code == 0, result.output
    assert re.search(r"^accuracy = [01]\.\d{3}$", result.output, re.MULTILINE)
    match = re.search(r"^macro-F1 = ([01]\.\d{3})$", result.output, re.MULTILINE)
    assert match and 0.0 <= float(match.group(1)) <= 1.0
    assert "15 crops" in result.output


@pytest.mark.realdata
def test_eval_without_model_uses_the_shipped_one(small_set: Path) -> None:
    result = CliRunner().invoke(station, ["joints", "eval", "--data", str(small_set), "--limit-per-class", "1"])
    assert result.exit_code == 0, result.output
    assert str(DEFAULT_MODEL) in result.output and "macro-F1 = " in result.output


def test_eval_of_a_folder_with_an_unknown_class_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "tombstoned").mkdir()
    result = CliRunner().invoke(station, ["joints", "eval", "--data", str(tmp_path)])
    assert result.exit_code == 7
    assert "tombstoned are not classes of the model" in result.output


def test_eval_with_a_missing_model_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "normal").mkdir()
    result = CliRunner().invoke(station, ["joints", "eval", "--model", str(tmp_path / "x.pt"), "--data", str(tmp_path)])
    assert result.exit_code == 3
    assert "does not exist" in result.output


@pytest.mark.realdata
def test_cv_validates_every_training_crop_once_and_never_the_held_out_ones(small_set: Path, tmp_path: Path) -> None:
    args = ["joints", "cv", "--data", str(small_set), "--folds", "2", "--imgsz", "64", "--finetune-epochs", "1",
            "--threads", "1", "--cache", str(tmp_path / "cache")]
    result = CliRunner().invoke(station, args)
    assert result.exit_code == 0, result.output
    # 3 crops per class: the seed-0 split holds 1 of each out, so 2 × 5 classes are cross-validated
    assert "10 training crops of split seed 0 in 2 folds" in result.output
    assert "out-of-fold predictions of 10 training crops" in result.output
    assert len(re.findall(r"^fold \d/2: macro-F1 [01]\.\d{3} on 5 crops$", result.output, re.MULTILINE)) == 2
    assert re.search(r"^cross-validated macro-F1 = [01]\.\d{3}$", result.output, re.MULTILINE)


def test_cv_needs_two_folds(tmp_path: Path) -> None:
    (tmp_path / "normal").mkdir()
    result = CliRunner().invoke(station, ["joints", "cv", "--data", str(tmp_path), "--folds", "1"])
    assert result.exit_code == 2 and "--folds" in result.output


@pytest.mark.realdata
@pytest.mark.parametrize("recipe", [["--class-weight-power", "1", "--no-tta", "--views", "orig,hflip"],
                                    ["--frozen", "--epochs", "5"]])
def test_train_writes_a_head_with_the_recipe_it_was_given(recipe: list[str], small_set: Path, tmp_path: Path) -> None:
    from inspection.aoi.classifier import JointClassifier

    out = tmp_path / "head.pt"
    args = ["joints", "train", "--data", str(small_set), "--out", str(out), "--imgsz", "64", "--finetune-epochs", "1",
            "--threads", "1", *recipe]
    result = CliRunner().invoke(station, args)
    assert result.exit_code == 0, result.output
    assert "held-out split:" in result.output and "macro-F1 = " in result.output
    classifier = JointClassifier(out)
    if "--frozen" in recipe:
        assert classifier.tuned_from_block is None and classifier.metrics["class_weight_power"] == 0.5
    else:
        assert classifier.tuned_from_block == 15 and classifier.tta_views == ("orig",)
        assert classifier.metrics["class_weight_power"] == 1.0 and classifier.metrics["views"] == ["orig", "hflip"]


def test_scale_augment_belongs_to_the_frozen_recipe(tmp_path: Path) -> None:
    (tmp_path / "normal").mkdir()
    result = CliRunner().invoke(station, ["joints", "train", "--data", str(tmp_path), "--scale-augment"])
    assert result.exit_code == 2 and "--scale-augment belongs to the --frozen recipe" in result.output
