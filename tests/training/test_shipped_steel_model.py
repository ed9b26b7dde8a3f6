"""The shipped steel-surface model (NEU-DET): a card a script can read, and real held-out images judged by the
station's own detector and recipe, the way the line would judge them."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import pytest

from datasets.convert import NEU_CLASSES, convert_neu_det
from inspection.domain.recipe import load_recipe
from training.line_eval import evaluate_line, line_setup

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "inspection" / "demo" / "models" / "steel_yolov8n.pt"
RECIPE = REPO / "inspection" / "demo" / "recipes" / "steel.yaml"
NEU = REPO.parent / "shared" / "data" / "neu-det"


def test_the_steel_card_says_what_the_model_expects_and_how_it_did_on_held_out_images() -> None:
    card = json.loads(MODEL.with_suffix(".json").read_text())
    assert card["input"] == "image" and tuple(card["classes"]) == NEU_CLASSES
    assert card["source"]["dataset"] == "neu-det" and card["data_version"]
    held_out = card["heldout_metrics"]
    assert held_out["split"] == "test" and held_out["images"] > 150
    assert set(held_out["per_class"]) == set(NEU_CLASSES)
    recipe = load_recipe(RECIPE)
    recipe.check_classes(tuple(card["classes"]), MODEL.name)  # every recipe class is one the model knows
    assert recipe.model is not None and Path(recipe.model).resolve() == MODEL.resolve()


def _held_out_images(tmp_path: Path, per_class: int = 3) -> Path:
    """A few images of each class from the held-out test split (same hash rule as the converter's)."""
    if not NEU.is_dir():
        pytest.skip(f"NEU-DET not found at {NEU} (see ../shared/data/README.md)")
    root = tmp_path / "neu"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for name in NEU_CLASSES:
        images = [p for p in sorted((NEU / "images").glob(f"{name}_*.jpg")) if zlib.crc32(p.stem.encode()) % 100 < 15]
        for image in images[:per_class]:
            os.symlink(image.resolve(), root / "images" / image.name)
            note = f"{image.stem}.xml"
            os.symlink((NEU / "annotations" / note).resolve(), root / "annotations" / note)
    return convert_neu_det(root, tmp_path / "yolo", val_percent=0, test_percent=100).data_yaml


@pytest.mark.realdata
def test_held_out_steel_defects_fail_at_the_recipe_thresholds(tmp_path: Path) -> None:
    data = _held_out_images(tmp_path)
    report = evaluate_line(data, line_setup(recipe=RECIPE), "test", tmp_path / "report")
    assert report.images == report.defective_images == 3 * len(NEU_CLASSES)
    assert report.escape_rate is not None and report.escape_rate <= 2 / 18  # at most two of 18 defects pass
    assert report.map50 >= 0.5


@pytest.mark.realdata
def test_flipped_copies_on_the_ultralytics_detector_land_where_the_defects_are() -> None:
    """`tta:` on the torch path: a frame and its mirror image are the same two copies, so their fused
    detections must be mirror images of each other (wrongly mapped copies would not be), and the fused
    defects are where the plain pass finds them."""
    import cv2
    import numpy as np

    from inspection.domain.matching import iou
    from inspection.domain.tta import TtaOptions
    from inspection.domain.types import Frame
    from inspection.inference.torch_runtime import Options, UltralyticsDetector

    if not NEU.is_dir():
        pytest.skip(f"NEU-DET not found at {NEU} (see ../shared/data/README.md)")
    image = cv2.imread(str(NEU / "images" / "patches_10.jpg"))
    width = image.shape[1]
    options = Options(device="cpu", conf=0.25)
    flipped = UltralyticsDetector(MODEL, options, TtaOptions(flips=["hflip"]))
    found = flipped.detect(Frame(image, "cam", 0, 0.0)).detections
    mirrored = flipped.detect(Frame(cv2.flip(image, 1), "cam", 1, 0.0)).detections
    assert found and len(found) == len(mirrored)
    ours = sorted((d.class_name, round(d.box.x1), round(d.box.y1), round(d.box.x2), round(d.box.y2)) for d in found)
    theirs = sorted((d.class_name, round(width - d.box.x2), round(d.box.y1), round(width - d.box.x1), round(d.box.y2))
                    for d in mirrored)
    for a, b in zip(ours, theirs, strict=True):
        assert a[0] == b[0] and np.allclose(a[1:], b[1:], atol=2)
    plain = UltralyticsDetector(MODEL, options).detect(Frame(image, "cam", 0, 0.0)).detections
    best = max(plain, key=lambda d: d.confidence).box
    assert max(iou(best, d.box) for d in found) > 0.5

