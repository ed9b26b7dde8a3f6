"""Synthetic generators: determinism, label validity, pixel formats and the defect-probability hook."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from inspection.simulation.synthetic import (
    PAINT_CLASSES,
    SOLDER_CLASSES,
    PaintGenerator,
    PartGenerator,
    SolderGenerator,
    write_yolo_dataset,
    yolo_label_lines,
)

GENERATORS = [SolderGenerator, PaintGenerator]


@pytest.mark.parametrize("cls", GENERATORS)
def test_same_seed_same_bytes(cls: type[PartGenerator]) -> None:
    a, b = cls(seed=3).part(5), cls(seed=3).part(5)
    assert a.image.tobytes() == b.image.tobytes()
    assert [d.class_name for d in a.defects] == [d.class_name for d in b.defects]
    for da, db in zip(a.defects, b.defects, strict=True):
        np.testing.assert_array_equal(da.polygon, db.polygon)


@pytest.mark.parametrize("cls", GENERATORS)
def test_seed_and_index_change_the_part(cls: type[PartGenerator]) -> None:
    base = cls(seed=0).part(0).image
    assert cls(seed=1).part(0).image.tobytes() != base.tobytes()
    assert cls(seed=0).part(1).image.tobytes() != base.tobytes()


@pytest.mark.parametrize("cls", GENERATORS)
def test_labels_inside_image_and_valid(cls: type[PartGenerator]) -> None:
    gen = cls(seed=11)
    seen = set()
    for index in range(40):
        part = gen.part(index)
        h, w = part.image.shape[:2]
        for d in part.defects:
            assert 0 <= d.class_id < len(gen.classes)
            assert gen.classes[d.class_id] == d.class_name
            assert d.polygon.ndim == 2 and d.polygon.shape[1] == 2 and len(d.polygon) >= 3
            assert (d.polygon >= -1e-3).all() and (d.polygon[:, 0] <= w + 1e-3).all()
            assert (d.polygon[:, 1] <= h + 1e-3).all()
            x1, y1, x2, y2 = d.box
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            seen.add(d.class_name)
    assert len(seen) >= len(gen.classes) - 1


@pytest.mark.parametrize("cls", GENERATORS)
def test_good_parts_have_no_labels(cls: type[PartGenerator]) -> None:
    gen = cls(seed=2)
    part = gen.part(0, dict.fromkeys(gen.classes, 0.0))
    assert part.is_good and part.defects == ()
    assert yolo_label_lines(part) == []


@pytest.mark.parametrize("cls", GENERATORS)
def test_mono8_and_size(cls: type[PartGenerator]) -> None:
    part = cls(seed=0, size=(160, 200), pixel_format="mono8").part(1)
    assert part.image.shape == (160, 200) and part.image.dtype == np.uint8
    colour = cls(seed=0, size=(96, 96)).part(1)
    assert colour.image.shape == (96, 96, 3)


@pytest.mark.parametrize(
    ("cls", "bad"), [(SolderGenerator, {"pixel_format": "rgb"}), (PaintGenerator, {"size": (8, 8)})]
)
def test_bad_parameters_fail_early(cls: type[PartGenerator], bad: dict) -> None:
    with pytest.raises(ValueError, match="expected"):
        cls(**bad)


def test_unknown_probability_class_fails() -> None:
    with pytest.raises(ValueError, match="unknown classes"):
        SolderGenerator().part(0, {"crater": 0.5})
    with pytest.raises(ValueError, match="0..1"):
        PaintGenerator().part(0, {"crater": 1.5})


@pytest.mark.parametrize(("cls", "name"), [(SolderGenerator, "bridge"), (PaintGenerator, "scratch")])
def test_probability_hook_changes_frequencies(cls: type[PartGenerator], name: str) -> None:
    gen = cls(seed=5, size=(128, 128))

    def rate(p: float) -> float:
        probs = {c: (p if c == name else 0.0) for c in gen.classes}
        return float(np.mean([name in gen.part(i, probs).class_names for i in range(30)]))

    assert rate(0.0) == 0.0
    assert rate(0.9) >= 0.6


def test_classes_are_the_documented_ones() -> None:
    assert SolderGenerator().classes == SOLDER_CLASSES
    assert "solder_ball" in SOLDER_CLASSES and "tombstone" in SOLDER_CLASSES
    assert PaintGenerator().classes == PAINT_CLASSES and "orange_peel" in PAINT_CLASSES


@pytest.mark.parametrize("cls", GENERATORS)
def test_fast_enough(cls: type[PartGenerator]) -> None:
    gen = cls(seed=0)
    gen.part(0)
    started = time.perf_counter()
    for i in range(10):
        gen.part(i)
    assert (time.perf_counter() - started) / 10 < 0.2  # ~30 ms on one free core; CI machines are shared


@pytest.mark.parametrize("task", ["detect", "segment"])
def test_write_yolo_dataset(tmp_path: Path, task: str) -> None:
    gen = SolderGenerator(seed=1, size=(96, 96))
    data = write_yolo_dataset(gen, tmp_path / "ds", n_train=4, n_val=2, task=task, n_test=2)  # type: ignore[arg-type]
    meta = yaml.safe_load(data.read_text())
    assert meta["names"] == dict(enumerate(SOLDER_CLASSES))
    assert meta["source"]["data_version"] == gen.data_version
    for split, count in (("train", 4), ("val", 2), ("test", 2)):
        images = sorted((tmp_path / "ds" / "images" / split).glob("*.png"))
        labels = sorted((tmp_path / "ds" / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == count
        for image, label in zip(images, labels, strict=True):
            assert cv2.imread(str(image)) is not None
            for line in label.read_text().splitlines():
                values = line.split()
                assert 0 <= int(values[0]) < len(SOLDER_CLASSES)
                coords = [float(v) for v in values[1:]]
                assert all(0.0 <= v <= 1.0 for v in coords)
                assert len(coords) == 4 if task == "detect" else len(coords) % 2 == 0 and len(coords) >= 6


def test_data_version_tracks_parameters() -> None:
    assert SolderGenerator(seed=0).data_version == SolderGenerator(seed=0).data_version
    assert SolderGenerator(seed=0).data_version != SolderGenerator(seed=1).data_version
    assert SolderGenerator().data_version != SolderGenerator(pixel_format="mono8").data_version
