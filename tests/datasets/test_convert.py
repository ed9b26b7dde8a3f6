"""Real data set converters: DeepPCB and NEU-DET to YOLO, and how they treat corrupt input."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from datasets.convert import (
    DEEPPCB_CLASSES,
    NEU_CLASSES,
    ImportProblem,
    convert_deeppcb,
    convert_neu_det,
    deeppcb_composite,
    deeppcb_repaired_goods,
    repair_defects,
)
from inspection.errors import DataError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
pytestmark = pytest.mark.realdata


def _need(name: str) -> Path:
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"real data set {name!r} not found at {path.resolve()} (see ../shared/data/README.md)")
    return path


def _deeppcb_subset(tmp_path: Path, lines: list[str]) -> Path:
    """A DeepPCB root with a short trainval.txt over the real PCBData folder."""
    root = tmp_path / "deeppcb"
    root.mkdir()
    os.symlink((_need("deeppcb") / "PCBData").resolve(), root / "PCBData")
    (root / "trainval.txt").write_text("\n".join(lines) + "\n")
    return root


def _real_lines(groups: tuple[str, ...] = ("00041", "77000", "92000"), per_group: int = 3) -> list[str]:
    listing = (_need("deeppcb") / "trainval.txt").read_text().splitlines()
    return [line for g in groups for line in [x for x in listing if x.startswith(f"group{g}/")][:per_group]]


def _labels(out: Path) -> list[list[float]]:
    rows = []
    for label in out.glob("labels/*/*.txt"):
        rows += [[float(v) for v in line.split()] for line in label.read_text().splitlines()]
    return rows


def test_repair_defects_takes_the_template_only_inside_the_boxes() -> None:
    test = np.full((40, 40), 200, np.uint8)
    template = np.zeros((40, 40), np.uint8)
    repaired = repair_defects(test, template, [(0, 10.0, 12.0, 20.0, 18.0)], pad_px=2)
    assert (repaired[10:20, 8:22] == 0).all()  # the box and its padding come from the template
    assert repaired.sum() == 200 * (40 * 40 - 10 * 14)  # everything else is the inspected board
    assert (test == 200).all()  # the input is not touched


def test_deeppcb_repaired_goods_pair_every_board_with_a_good_one(tmp_path: Path) -> None:
    root = _deeppcb_subset(tmp_path, _real_lines(("00041", "92000"), 3))
    data = deeppcb_repaired_goods(root, tmp_path / "eval", groups=("92000",))
    images = sorted((tmp_path / "eval" / "images" / "test").glob("*.png"))
    assert len(images) == 6  # 3 boards of group 92000, each as it is and repaired; group 00041 left out
    for image in images:
        label = (tmp_path / "eval" / "labels" / "test" / image.name).with_suffix(".txt").read_text()
        pixels = cv2.imread(str(image))
        if image.stem.endswith("_repaired"):
            original = cv2.imread(str(image.with_name(image.name.replace("_repaired", ""))))
            assert label == "" and pixels[..., 2].sum() < original[..., 2].sum()  # less difference left
            assert (pixels[..., 1] == original[..., 1]).all()  # same golden template
        else:
            assert label.strip()
    assert yaml.safe_load(data.read_text())["source"]["boards"] == 3
    with pytest.raises(DataError, match="no boards"):
        deeppcb_repaired_goods(root, tmp_path / "none", groups=("12345",))


def test_deeppcb_real_subset(tmp_path: Path) -> None:
    root = _deeppcb_subset(tmp_path, _real_lines())
    report = convert_deeppcb(root, tmp_path / "out")
    assert report.issues == [] and report.images == {"train": 3, "val": 3, "test": 3}
    rows = _labels(tmp_path / "out")
    assert len(rows) == report.boxes > 9
    assert all(0 <= r[0] < len(DEEPPCB_CLASSES) and all(0 <= v <= 1 for v in r[1:]) for r in rows)
    meta = yaml.safe_load(report.data_yaml.read_text())
    assert meta["names"] == dict(enumerate(DEEPPCB_CLASSES)) and meta["source"]["data_version"]


def test_deeppcb_composite(tmp_path: Path) -> None:
    root = _deeppcb_subset(tmp_path, _real_lines(("00041",), 1))
    convert_deeppcb(root, tmp_path / "out", composite=True)
    (image,) = (tmp_path / "out" / "images" / "train").glob("*.png")
    pixels = cv2.imread(str(image))
    assert pixels.shape == (640, 640, 3) and pixels[..., 2].mean() < pixels[..., 0].mean()
    with pytest.raises(ValueError, match="grayscale"):
        deeppcb_composite(np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8))


def _corrupt_deeppcb(tmp_path: Path, kind: str) -> Path:
    """A DeepPCB-shaped root with one good pair and one broken one (bad label line or bad image)."""
    real = _need("deeppcb") / "PCBData" / "group00041" / "00041"
    root = tmp_path / "broken"
    (root / "PCBData" / "g" / "g").mkdir(parents=True)
    (root / "PCBData" / "g" / "g_not").mkdir(parents=True)
    for stem in ("0001", "0002"):
        os.symlink((real / "00041000_test.jpg").resolve(), root / "PCBData" / "g" / "g" / f"{stem}_test.jpg")
        (root / "PCBData" / "g" / "g_not" / f"{stem}.txt").write_text("10 10 50 50 1\n")
    if kind == "label":
        (root / "PCBData" / "g" / "g_not" / "0002.txt").write_text("10 10 50 50 1\n600 600 700 700 2\n")
    elif kind == "type":
        (root / "PCBData" / "g" / "g_not" / "0002.txt").write_text("10 10 50 50 9\n")
    else:
        (root / "PCBData" / "g" / "g" / "0002_test.jpg").unlink()
        (root / "PCBData" / "g" / "g" / "0002_test.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (root / "trainval.txt").write_text("g/g/0001.jpg g/g_not/0001.txt\ng/g/0002.jpg g/g_not/0002.txt\n")
    return root


@pytest.mark.parametrize(
    ("kind", "where"), [("label", "0002.txt:2"), ("type", "0002.txt:1"), ("image", "0002_test.jpg")]
)
def test_deeppcb_corrupt_input(tmp_path: Path, kind: str, where: str) -> None:
    root = _corrupt_deeppcb(tmp_path, kind)
    with pytest.raises(ImportProblem, match=where):
        convert_deeppcb(root, tmp_path / "strict", strict=True)
    report = convert_deeppcb(root, tmp_path / "lenient")
    assert report.images == {"train": 1} and len(report.issues) == 1
    assert where in str(report.issues[0]) and where in report.summary()
    skipped = yaml.safe_load(report.data_yaml.read_text())["source"]["skipped"]
    assert len(skipped) == 1


def _neu_subset(tmp_path: Path, count: int = 12) -> Path:
    real = _need("neu-det")
    root = tmp_path / "neu"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for image in sorted((real / "images").glob("*.jpg"))[:: max(1, 1514 // count)][:count]:
        os.symlink(image.resolve(), root / "images" / image.name)
        os.symlink((real / "annotations" / f"{image.stem}.xml").resolve(), root / "annotations" / f"{image.stem}.xml")
    return root


def test_neu_det_real_subset(tmp_path: Path) -> None:
    root = _neu_subset(tmp_path)
    report = convert_neu_det(root, tmp_path / "out")
    assert report.issues == [] and sum(report.images.values()) == 12
    rows = _labels(tmp_path / "out")
    assert rows and all(0 <= r[0] < len(NEU_CLASSES) and all(0 <= v <= 1 for v in r[1:]) for r in rows)


def test_neu_det_out_of_range_box_and_bad_xml(tmp_path: Path) -> None:
    root = _neu_subset(tmp_path, 3)
    notes = sorted((root / "annotations").glob("*.xml"))
    text = notes[0].read_text()
    notes[0].unlink()
    notes[0].write_text(text.replace("<xmax>", "<xmax>9", 1))  # e.g. 193 -> 9193: outside the 200 px image
    notes[1].unlink()
    notes[1].write_text("<annotation><object>\n</annotation>")
    report = convert_neu_det(root, tmp_path / "out")
    assert sum(report.images.values()) == 1 and len(report.issues) == 2
    messages = " ".join(str(i) for i in report.issues)
    assert "outside" in messages and "not valid XML" in messages and f"{notes[0].name}:" in messages
    with pytest.raises(ImportProblem):
        convert_neu_det(root, tmp_path / "strict", strict=True)
