from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from inspection.cli import station
from inspection.domain.permissions import Role, User
from inspection.domain.recipe import Recipe
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.errors import DataError
from inspection.records.labels import LabelBook
from inspection.records.samples import SampleKeeper
from inspection.records.store import Store
from training.dataset_versions import build_dataset_version, import_coco, import_yolo

EVE = User("eve", Role.ENGINEER)


def fill_store(store: Store, folder: Path, count: int = 12) -> list[int]:
    keeper, book, ids = SampleKeeper(store, folder, Recipe(name="r")), LabelBook(store), []
    for i in range(count):
        image = np.full((40, 50, 3), 10 * i, np.uint8)
        det = (Detection("bridge", 0.9, Box(5, 5, 15, 25)),)
        inspection = Inspection(Frame(image, "cam0", i, float(i)), det,
                                Verdict(VerdictStatus.FAIL, (Reason("defect", "bridge", "bridge"),)), det)
        sample_id = keeper.consider(inspection, store.record(inspection))
        book.review(sample_id, "accepted", EVE)
        ids.append(sample_id)
    return ids


def test_build_is_frozen_content_hashed_and_keeps_golden_apart(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        ids = fill_store(store, tmp_path / "samples")
        LabelBook(store).set_golden(ids[0], EVE)
        LabelBook(store).review(ids[1], "rejected", EVE)
        first = build_dataset_version(store, tmp_path / "ds", classes=("bridge", "void"), val_fraction=0.3)
        again = build_dataset_version(store, tmp_path / "ds", classes=("bridge", "void"), val_fraction=0.3)
    assert first.version == again.version and first.version.startswith("ds-")
    assert first.counts["golden"] == 1 and sum(first.counts.values()) == 11  # rejected one left out
    assert first.counts["val"] > 0 and first.counts["train"] > 0
    data = yaml.safe_load(first.data_yaml.read_text())
    assert data["names"] == {0: "bridge", 1: "void"} and data["test"] == "images/golden"
    line = next((first.path / "labels" / "golden").glob("*.txt")).read_text().split()
    assert line[0] == "0" and [round(float(v), 3) for v in line[1:]] == [0.2, 0.375, 0.2, 0.5]
    assert len(list((tmp_path / "ds").iterdir())) == 1  # no half-built folders left behind


def test_build_needs_reviewed_samples_and_known_classes(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        SampleKeeper(store, tmp_path / "samples", Recipe(name="r"))
        with pytest.raises(DataError, match="no reviewed samples"):
            build_dataset_version(store, tmp_path / "ds")
        fill_store(store, tmp_path / "samples", 2)
        with pytest.raises(DataError, match="classes bridge that are not in the class list void"):
            build_dataset_version(store, tmp_path / "ds", classes=("void",))


def write_yolo(root: Path, lines: dict[str, str]) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: {0: bridge, 1: void}\n")
    for i, (stem, text) in enumerate(lines.items()):
        cv2.imwrite(str(root / "images" / f"{stem}.png"), np.full((20, 40, 3), 20 * i, np.uint8))
        (root / "labels" / f"{stem}.txt").write_text(text)
    return root


def test_import_yolo_reports_bad_lines_with_file_and_line(tmp_path: Path) -> None:
    src = write_yolo(tmp_path / "yolo", {"a": "0 0.5 0.5 0.5 0.5\n", "b": "1 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\n",
                                         "c": "1 0.1 0.1 0.9 0.1 0.5 0.9\n"})
    with Store(tmp_path / "s.db") as store:
        report = import_yolo(store, src, tmp_path / "samples")
        assert report.imported == 2 and report.labels == 2
        assert len(report.problems) == 1 and "b.txt:2: class 7 out of range 0..1" in report.problems[0]
        polygons = [r["polygon"] for r in store.query("select polygon from labels")]
        assert polygons[0] is None and len(json.loads(polygons[1])) == 3
    with Store(tmp_path / "s2.db") as store, pytest.raises(DataError, match=r"b.txt:2"):
        import_yolo(store, src, tmp_path / "samples2", strict=True)


def test_import_yolo_finds_labels_inside_the_dataset_and_says_which_images_had_none(tmp_path: Path) -> None:
    """A dataset kept under a folder called "images" (…/images/set1/images/a.png): the label path was made by
    replacing the first "/images/" of the absolute path, so no label was ever found and every defect image
    became a silent "good part"."""
    src = write_yolo(tmp_path / "images" / "set1", {"a": "0 0.5 0.5 0.5 0.5\n", "b": "1 0.5 0.5 0.2 0.2\n"})
    (src / "labels" / "b.txt").unlink()
    cv2.imwrite(str(src / "images" / "c.png"), np.full((20, 40, 3), 99, np.uint8))
    (src / "labels" / "c.txt").write_text("0 nan 0.5 0.1 0.1\n")  # reported with file:line, not a traceback
    with Store(tmp_path / "s.db") as store:
        report = import_yolo(store, src, tmp_path / "samples")
    assert (report.imported, report.labels, report.without_label_file) == (2, 1, 1)
    assert len(report.problems) == 1 and "c.txt:1" in report.problems[0]


def test_the_same_image_is_imported_once(tmp_path: Path) -> None:
    """Imported again (as golden, or with other labels) it could land in train and val at once."""
    src = write_yolo(tmp_path / "yolo", {"a": "0 0.5 0.5 0.5 0.5\n"})
    with Store(tmp_path / "s.db") as store:
        assert import_yolo(store, src, tmp_path / "samples").imported == 1
        again = import_yolo(store, src, tmp_path / "samples", golden=True)
        assert again.imported == 0 and "the same image is already sample 1" in again.problems[0]
        assert len(store.query("select id from samples")) == 1


def test_import_yolo_refuses_class_names_it_cannot_order(tmp_path: Path) -> None:
    src = write_yolo(tmp_path / "yolo", {"a": "0 0.5 0.5 0.5 0.5\n"})
    (src / "data.yaml").write_text("names: {0: a, '1': b}\n")
    with Store(tmp_path / "s.db") as store, pytest.raises(DataError, match="names: expected a list or a mapping"):
        import_yolo(store, src, tmp_path / "samples")


def test_import_coco(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((30, 30, 3), np.uint8))
    coco = {"images": [{"id": 1, "file_name": "x.png", "width": 30, "height": 30}],
            "categories": [{"id": 3, "name": "scratch"}],
            "annotations": [{"image_id": 1, "category_id": 3, "bbox": [2, 2, 10, 5]},
                            {"image_id": 1, "category_id": 3, "bbox": [25, 25, 10, 10]}]}
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    with Store(tmp_path / "s.db") as store:
        report = import_coco(store, tmp_path / "ann.json", tmp_path, tmp_path / "samples")
    # the image is skipped whole: imported with one of its two defects it would teach the other as background
    assert report.imported == 0 and report.labels == 0
    assert "image x.png skipped" in report.problems[0] and "annotations[1]" in report.problems[0]
    assert "outside the 30x30 image" in report.problems[0]


def test_cli_import_build_and_registry(tmp_path: Path, tiny_model: Path, monkeypatch) -> None:
    src = write_yolo(tmp_path / "yolo", {f"p{i}": "0 0.5 0.5 0.5 0.5\n" for i in range(6)})
    db, runner = tmp_path / "s.db", CliRunner()
    result = runner.invoke(station, ["dataset", "import", "--db", str(db), "--yolo", str(src)])
    assert result.exit_code == 0 and "imported 6 images with 6 labels" in result.output
    result = runner.invoke(station, ["dataset", "build", "--db", str(db), "--out", str(tmp_path / "ds"),
                                     "--val", "0.5"])
    assert result.exit_code == 0 and "ds-" in result.output, result.output
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"escape_rate": 0.1, "false_reject_rate": 0.0, "map50": 0.5}))
    reg = str(tmp_path / "reg")
    result = runner.invoke(station, ["models", "register", str(tiny_model), "--product", "board", "--registry", reg,
                                     "--metrics", str(metrics)])
    assert result.exit_code == 0 and "registered board-" in result.output
    model_id = result.output.split()[1]
    from inspection.domain.permissions import Role
    from inspection.people.accounts import Accounts

    with Store(db) as store:
        Accounts(store).create("eve", Role.ENGINEER, "eve-secret")
    monkeypatch.setenv("STATION_USER", "eve")
    monkeypatch.setenv("STATION_PASSWORD", "eve-secret")
    result = runner.invoke(station, ["models", "promote", model_id, "--registry", reg, "--db", str(db)])
    assert result.exit_code == 0 and "is now production" in result.output
    result = runner.invoke(station, ["models", "rollback", "--product", "board", "--registry", reg, "--db", str(db)])
    assert result.exit_code == 3 and "no previous production model" in result.output


def test_missing_sample_image_is_a_clear_error(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        fill_store(store, tmp_path / "samples", 3)
        Path(store.query("select image_path from samples limit 1")[0]["image_path"]).unlink()
        with pytest.raises(DataError, match=r"sample 1: image .* is missing"):
            build_dataset_version(store, tmp_path / "ds")
        assert not (tmp_path / "ds").exists() or not any((tmp_path / "ds").iterdir())


@pytest.mark.parametrize(("change", "message"), [
    ({"categories": [{"id": 3, "name": "scratch"}, {"id": 3, "name": "dent"}]},
     "category id 3 is given twice ('scratch' and 'dent')"),
    ({"images": [{"id": 1, "file_name": "x.png", "width": 30, "height": 30},
                 {"id": 1, "file_name": "y.png", "width": 30, "height": 30}]},
     "image id 1 is given twice ('x.png' and 'y.png')"),
])
def test_import_coco_refuses_ids_given_twice(tmp_path: Path, change: dict, message: str) -> None:
    coco = {"images": [{"id": 1, "file_name": "x.png", "width": 30, "height": 30}],
            "categories": [{"id": 3, "name": "scratch"}],
            "annotations": [{"image_id": 1, "category_id": 3, "bbox": [2, 2, 10, 5]}], **change}
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    with Store(tmp_path / "s.db") as store, pytest.raises(DataError, match=re.escape(message)):
        import_coco(store, tmp_path / "ann.json", tmp_path, tmp_path / "samples")


def test_import_coco_checks_the_image_size_the_json_claims(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((64, 64, 3), np.uint8))
    coco = {"images": [{"id": 1, "file_name": "x.png", "width": 6400, "height": 6400}],
            "categories": [{"id": 3, "name": "scratch"}],
            "annotations": [{"image_id": 1, "category_id": 3, "bbox": [3000, 3000, 100, 100]}]}
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    with Store(tmp_path / "s.db") as store:
        report = import_coco(store, tmp_path / "ann.json", tmp_path, tmp_path / "samples")
    assert report.imported == 0 and "is 64×64 but the JSON says 6400×6400" in report.problems[0]


def test_registry_cli_says_what_it_did_not_do(tmp_path: Path, tiny_model: Path) -> None:
    """Registering the same file again keeps the first metrics: said, not silent. A negative gate, a list
    as metrics and an export size the network cannot take are usage errors, not tracebacks."""
    registry = ["--registry", str(tmp_path / "reg")]
    first = tmp_path / "m1.json"
    first.write_text(json.dumps({"escape_rate": 0.1, "false_reject_rate": 0.1}))
    runner = CliRunner()
    result = runner.invoke(station, ["models", "register", str(tiny_model), "--product", "board", *registry,
                                     "--metrics", str(first)])
    assert result.exit_code == 0 and "registered board-" in result.output
    second = tmp_path / "m2.json"
    second.write_text(json.dumps({"escape_rate": 0.0, "false_reject_rate": 0.0}))
    result = runner.invoke(station, ["models", "register", str(tiny_model), "--product", "board", *registry,
                                     "--metrics", str(second)])
    assert result.exit_code == 0 and "is already registered" in result.output and "stay as first" in result.output
    second.write_text("[1, 2]")
    result = runner.invoke(station, ["models", "register", str(tiny_model), "--product", "board", *registry,
                                     "--metrics", str(second)])
    assert result.exit_code == 2 and "expected a JSON object" in result.output
    result = runner.invoke(station, ["models", "promote", "board-x", *registry, "--max-false-reject-increase", "-1"])
    assert result.exit_code == 2 and "--max-false-reject-increase" in result.output
    result = runner.invoke(station, ["export-model", "--model", str(tiny_model), "--imgsz", "33"])
    assert result.exit_code == 2 and "33 is not a multiple of 32" in result.output
