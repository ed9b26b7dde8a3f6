"""COCO / Label Studio interop: RLE as pycocotools writes it, every polygon, per-image errors, round trip."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.domain.recipe import Recipe
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.errors import DataError
from inspection.records.coco import export_dataset_version, export_review_queue, read_coco, rle_decode, rle_encode
from inspection.records.labels import LabelBook
from inspection.records.samples import SampleKeeper
from inspection.records.store import Store


def _mask_a() -> np.ndarray:
    m = np.zeros((40, 60), np.uint8)
    m[5:15, 10:30] = 1
    m[25:35, 40:55] = 1
    m[20, 5] = 1
    return m


# Strings written by pycocotools 2.0.11 (mask.encode) for these masks: the decoder must read them exactly.
PYCOCOTOOLS_A = "l61h59VK0000000000000000000000000000000000000T=0lB000000000000000000000000000_5"
PYCOCOTOOLS_B = "0182L0004N"


def test_rle_reads_and_writes_what_pycocotools_does() -> None:
    mask_b = np.zeros((7, 5), np.uint8)
    mask_b[0, 0] = mask_b[6, 4] = 1
    mask_b[2:5, 1:4] = 1
    assert np.array_equal(rle_decode({"size": [40, 60], "counts": PYCOCOTOOLS_A}), _mask_a())
    assert np.array_equal(rle_decode({"size": [7, 5], "counts": PYCOCOTOOLS_B}), mask_b)
    assert rle_encode(_mask_a())["counts"] == PYCOCOTOOLS_A and rle_encode(mask_b)["counts"] == PYCOCOTOOLS_B
    uncompressed = rle_encode(mask_b, compressed=False)
    assert uncompressed["counts"][:2] == [0, 1] and np.array_equal(rle_decode(uncompressed), mask_b)
    with pytest.raises(DataError, match="add up to"):
        rle_decode({"size": [7, 5], "counts": [3, 2]})


def test_every_polygon_and_every_mask_region_becomes_a_label() -> None:
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 40},
                   {"id": 2, "file_name": "b.png", "width": 60, "height": 40}],
        "categories": [{"id": 7, "name": "scratch"}, {"id": 8, "name": "void"}],
        "annotations": [
            {"image_id": 1, "category_id": 7, "bbox": [1, 1, 30, 20],
             "segmentation": [[1, 1, 10, 1, 10, 8], [20, 10, 30, 10, 30, 20, 20, 20]]},
            {"image_id": 1, "category_id": 8, "bbox": [5, 5, 50, 30], "iscrowd": 1,
             "segmentation": {"size": [40, 60], "counts": PYCOCOTOOLS_A}},
            {"image_id": 1, "category_id": 8, "bbox": [0, 0, 4, 4],
             "segmentation": {"size": [40, 60], "counts": rle_encode(np.pad(np.ones((4, 4), np.uint8),
                                                                            ((0, 36), (0, 56))), False)["counts"]}},
            {"image_id": 2, "category_id": 7, "bbox": [1, 1, 5, 5]},
            {"image_id": 2, "category_id": 7, "bbox": [1, 1, 5, 5], "segmentation": [[1, 1, 2, 2]]},
            {"image_id": 9, "category_id": 7, "bbox": [1, 1, 5, 5]},
        ]}
    data = read_coco(coco)
    a, b = data.images
    assert [lb.class_name for lb in a.labels] == ["scratch", "scratch", "void", "void", "void", "void"]
    assert a.labels[1].polygon == ((20.0, 10.0), (30.0, 10.0), (30.0, 20.0), (20.0, 20.0))
    boxes = sorted((lb.box.x1, lb.box.y1, lb.box.x2, lb.box.y2) for lb in a.labels[2:5])
    assert boxes == [(5.0, 20.0, 6.0, 21.0), (10.0, 5.0, 29.0, 14.0), (40.0, 25.0, 54.0, 34.0)]  # one per region
    assert a.labels[5].box.as_tuple() == (0.0, 0.0, 3.0, 3.0) and not a.errors
    assert b.errors and "at least 3 x/y pairs" in b.errors[0] and "annotations[4]" in b.errors[0]
    assert data.good == [a] and "image_id 9" in data.errors[0]


def _queue(store: Store, folder: Path) -> list[int]:
    keeper = SampleKeeper(store, folder, Recipe(name="r"))
    ids = []
    for i in range(3):
        image = np.full((48, 64, 3), 40 * i, np.uint8)
        dets = (Detection("bridge", 0.91, Box(5, 6, 20, 30)),
                Detection("void", 0.42, Box(30, 10, 50, 25), polygon=((30, 10), (50, 12), (45, 25), (31, 22))))
        inspection = Inspection(Frame(image, "cam0", i, float(i)), dets,
                                Verdict(VerdictStatus.FAIL, (Reason("defect", "bridge", "bridge"),)), dets)
        ids.append(keeper.consider(inspection, store.record(inspection)))
    return ids


def test_review_queue_round_trip_through_coco(tmp_path: Path) -> None:
    from training.dataset_versions import import_coco

    with Store(tmp_path / "s.db") as store:
        ids = _queue(store, tmp_path / "samples")
        report = export_review_queue(store, tmp_path / "out")
    assert report.images == 3 and report.annotations == 6 and report.predictions == 6 and not report.skipped
    out = tmp_path / "out"
    coco = json.loads((out / "annotations.json").read_text())
    assert {c["name"] for c in coco["categories"]} == {"bridge", "void"}
    assert all(a["attributes"]["source"] == "model" and 0 < a["score"] <= 1 for a in coco["annotations"])
    assert all((out / "images" / i["file_name"]).is_file() for i in coco["images"])
    tasks = json.loads((out / "label_studio_tasks.json").read_text())
    result = tasks[0]["predictions"][0]["result"]
    rect = next(r for r in result if r["type"] == "rectanglelabels")
    assert rect["value"]["x"] == pytest.approx(100 * 5 / 64) and rect["value"]["rectanglelabels"] == ["bridge"]
    poly = next(r for r in result if r["type"] == "polygonlabels")
    assert poly["value"]["points"][1] == pytest.approx([100 * 50 / 64, 100 * 12 / 48])
    assert '<PolygonLabels name="polygon"' in (out / "label_studio_config.xml").read_text()

    back = read_coco(out / "annotations.json")
    assert len(back.good) == 3
    first = sorted(back.images[0].labels, key=lambda lb: lb.class_name)
    assert first[0].box.as_tuple() == (5.0, 6.0, 20.0, 30.0)
    assert first[1].polygon == ((30.0, 10.0), (50.0, 12.0), (45.0, 25.0), (31.0, 22.0))
    with Store(tmp_path / "back.db") as store:
        imported = import_coco(store, out / "annotations.json", out / "images", tmp_path / "back")
        labels = [LabelBook(store).labels(r["id"]) for r in store.query("select id from samples order by id")]
    assert imported.imported == 3 and imported.labels == 6 and not imported.problems
    assert sorted(lb.class_name for lb in labels[0]) == ["bridge", "void"]
    assert len(ids) == 3


def test_cli_and_dataset_version_export(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        _queue(store, tmp_path / "samples")
    result = CliRunner().invoke(station, ["labels", "export", "--db", str(tmp_path / "s.db"), "-o",
                                          str(tmp_path / "cli")])
    assert result.exit_code == 0 and "wrote 3 images, 6 annotations" in result.output, result.output
    version = tmp_path / "ds"
    (version / "images" / "train").mkdir(parents=True)
    (version / "labels" / "train").mkdir(parents=True)
    (version / "data.yaml").write_text("train: images/train\nval: images/train\nnames: {0: bridge, 1: void}\n")
    cv2.imwrite(str(version / "images" / "train" / "p.png"), np.zeros((40, 80, 3), np.uint8))
    (version / "labels" / "train" / "p.txt").write_text("0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.3 0.1 0.3 0.4\n")
    report = export_dataset_version(version, tmp_path / "dsout")
    coco = json.loads((tmp_path / "dsout" / "annotations.json").read_text())
    assert report.images == 1 and coco["annotations"][0]["bbox"] == [30.0, 10.0, 20.0, 20.0]
    assert coco["annotations"][1]["segmentation"] == [[8.0, 4.0, 24.0, 4.0, 24.0, 16.0]]
    assert "score" not in coco["annotations"][0]  # a dataset's labels are a person's, not predictions
