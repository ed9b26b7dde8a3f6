"""Hostile inputs: imports that name files outside their folder, non-images, path-like names, spreadsheet
formulas in exported cells, YAML alias bombs."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.config import load_station_config, read_yaml
from inspection.domain.types import Frame, Inspection, Verdict, VerdictStatus
from inspection.errors import ConfigError, DataError
from inspection.records.store import Store
from inspection.security.inputs import check_name, csv_cell
from training.dataset_versions import import_coco, import_yolo


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the import folder that an attacker wants copied into the samples (a real image)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "secret.png"
    cv2.imwrite(str(path), np.full((30, 30, 3), 7, np.uint8))
    return path


def test_coco_import_is_confined_to_its_image_folder(tmp_path, secret):
    images = tmp_path / "import" / "images"
    images.mkdir(parents=True)
    cv2.imwrite(str(images / "ok.png"), np.zeros((30, 30, 3), np.uint8))
    (images / "fake.png").write_bytes(b"MZ\x90\x00 not an image")
    os.symlink(secret, images / "link.png")
    names = ["ok.png", "../../outside/secret.png", str(secret), "link.png", "fake.png"]
    coco = {"images": [{"id": i, "file_name": n, "width": 30, "height": 30} for i, n in enumerate(names)],
            "categories": [{"id": 1, "name": "scratch"}], "annotations": []}
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    with Store(tmp_path / "s.db") as store:
        report = import_coco(store, tmp_path / "ann.json", images, tmp_path / "samples")
        kept = [r["image_path"] for r in store.query("select image_path from samples")]
    assert report.imported == 1 and len(kept) == 1
    problems = "\n".join(report.problems)
    assert problems.count("points outside") == 2 and "absolute path" in problems
    assert "fake.png: image cannot be decoded" in problems
    with pytest.raises(DataError, match="outside"), Store(tmp_path / "s2.db") as store:
        import_coco(store, tmp_path / "ann.json", images, tmp_path / "samples2", strict=True)


def test_yolo_import_does_not_follow_links_out(tmp_path, secret):
    data = tmp_path / "yolo"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    (data / "data.yaml").write_text("names: [scratch]\n")
    os.symlink(secret, data / "images" / "link.png")
    with Store(tmp_path / "s.db") as store:
        report = import_yolo(store, data, tmp_path / "samples")
    assert report.imported == 0 and "points outside" in report.problems[0]


@pytest.mark.parametrize("name", ["../../x", "/etc/x", "a/b", "..", ".hidden", "-rf", "", "x" * 65, "a\nb"])
def test_path_like_names_are_refused(name):
    with pytest.raises(DataError, match="use 1-64 letters"):
        check_name(name, "product")


def test_register_with_a_path_as_product_writes_nothing_outside(tmp_path, tiny_model):
    registry = tmp_path / "a" / "b" / "reg"
    result = CliRunner().invoke(station, ["models", "register", str(tiny_model), "--product", "../../x",
                                          "--registry", str(registry)])
    assert result.exit_code == 7 and "product name" in result.output
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith("registry.db")]
    assert written == [] and not list((registry / "models").iterdir())


@pytest.mark.parametrize(("cell", "expected"), [("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
                                                ("+1+2", "'+1+2"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
                                                ("P-1", "P-1"), (-1.5, -1.5)])
def test_csv_cells_are_neutralised(cell, expected):
    assert csv_cell(cell) == expected


def test_exported_verdict_log_has_no_formulas(tmp_path):
    with Store(tmp_path / "s.db") as store:
        frame = Frame(np.zeros((8, 8, 3), np.uint8), "cam0", 1, time.time(), part_id="=cmd|' /C calc'!A0")
        store.record(Inspection(frame, (), Verdict(VerdictStatus.PASS, ())))
        store.export_csv(tmp_path / "log.csv")
    row = next(csv.DictReader((tmp_path / "log.csv").open()))
    assert row["part_id"] == "'=cmd|' /C calc'!A0"


def test_yaml_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path, station_yaml):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        lines.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("name: *i")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        read_yaml(bomb)
    assert time.perf_counter() - started < 2.0
    assert "aliases" in str(caught.value) and len(str(caught.value)) < 500


def test_long_bad_values_are_truncated_in_errors(tmp_path, station_yaml):
    with pytest.raises(ConfigError) as caught:
        load_station_config(station_yaml, {"name": ["x" * 100_000]})
    assert len(str(caught.value)) < 1000 and "more characters" in str(caught.value)
