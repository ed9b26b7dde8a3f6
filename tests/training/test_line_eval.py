"""`station eval` evaluates what the line runs: the bundled ONNX demo model through the station's detector
adapter and the recipe judge, part by part the same verdicts as `station run` on the same images."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from inspection.cli import station
from inspection.demo import demo_config_path
from training import testing

DEMO = demo_config_path("solder").parent
PARTS = DEMO / "parts" / "solder"
RECIPE = DEMO / "recipes" / "solder.yaml"
# four good and five defective parts, part 13 a defect the demo model misses (an escape)
CHOSEN = ("solder_00_good.jpg", "solder_01_bad.jpg", "solder_02_bad.jpg", "solder_03_good.jpg",
          "solder_04_bad.jpg", "solder_06_good.jpg", "solder_07_bad.jpg", "solder_09_good.jpg", "solder_13_bad.jpg")


def demo_split(root: Path, chosen: tuple[str, ...] = CHOSEN) -> Path:
    return testing.demo_split(root, chosen)


def station_yaml(tmp_path: Path, images: Path, recipe: Path = RECIPE) -> Path:
    """The bundled solder demo's station config (ONNX detector), replaying `images`."""
    config = yaml.safe_load(demo_config_path("solder").read_text())
    config["recipe"] = str(recipe)
    config["cameras"][0]["path"] = str(images)
    config["cameras"][0].pop("rate_hz", None)
    config["data_dir"] = str(tmp_path / "station-data")
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def eval_rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "images.csv").open() as handle:
        return {row["image"]: row for row in csv.DictReader(handle)}


def assert_eval_agrees_with_station_run(tmp_path: Path, config: Path, data: Path) -> dict[str, dict[str, str]]:
    """`station run --headless` then `station eval --config` on the same images: the same verdict, defect count
    and model id for every part. Returns eval's rows."""
    db = tmp_path / "run.db"
    run = CliRunner().invoke(station, ["run", "--config", str(config), "--headless", "--db", str(db)])
    assert run.exit_code == 0, run.output
    with sqlite3.connect(db) as conn:
        line = {Path(source).name: (verdict, n_defects) for source, verdict, n_defects in
                conn.execute("select source, verdict, n_defects from inspections")}
        models = {m for (m,) in conn.execute("select distinct model_id from inspections")}
    assert len(line) == len(CHOSEN)

    out = tmp_path / "eval"
    result = CliRunner().invoke(station, ["eval", "--config", str(config), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = eval_rows(out)
    assert {name: (row["verdict"], int(row["detections"])) for name, row in rows.items()} == line
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runtime"].startswith("onnx") and {metrics["model_id"]} == models  # the very same file
    # the rates are the verdicts': an escape is a defective part the station passed
    escapes = [n for n, r in rows.items() if r["defective"] == "True" and r["verdict"] == "PASS"]
    assert metrics["escape_rate"] == pytest.approx(len(escapes) / metrics["defective_images"])
    assert "runtime: onnx" in result.output and "inspecting" not in result.output  # no bar outside a terminal
    return rows


@pytest.mark.slow
def test_eval_and_station_run_give_the_same_verdict_part_by_part(tmp_path: Path) -> None:
    data = demo_split(tmp_path / "data")
    config = station_yaml(tmp_path, tmp_path / "data" / "images" / "test")
    rows = assert_eval_agrees_with_station_run(tmp_path, config, data)
    verdicts = {name: row["verdict"] for name, row in rows.items()}
    assert set(verdicts.values()) == {"PASS", "FAIL"}  # a comparison that could disagree
    assert verdicts["solder_13_bad.jpg"] == "PASS"  # the escape is counted as the station makes it


@pytest.mark.slow
def test_tiling_roi_and_area_rules_are_applied_alike(tmp_path: Path) -> None:
    """The recipe tiles the frame (the exported detector merges tile detections), excludes the top-left
    quarter and raises the smallest defect's area rule: eval and run still agree part by part, and the
    rules changed some verdicts or defect counts against the shipped recipe."""
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["model"] = str(DEMO / "models" / "solder_yolov8n.pt")
    recipe["tiling"] = {"tile_px": 192, "overlap_px": 48, "include_full": True}
    recipe["roi"] = {"exclude": [[[0, 0], [160, 0], [160, 160], [0, 160]]]}
    recipe["classes"]["solder_ball"]["min_area_px"] = 150
    tiled = tmp_path / "tiled.yaml"
    tiled.write_text(yaml.safe_dump(recipe))
    data = demo_split(tmp_path / "data")
    config = station_yaml(tmp_path, tmp_path / "data" / "images" / "test", tiled)
    rows = assert_eval_agrees_with_station_run(tmp_path, config, data)

    plain = tmp_path / "plain"
    plain.mkdir()
    shipped = assert_eval_agrees_with_station_run(plain, station_yaml(plain, tmp_path / "data" / "images" / "test"),
                                                  data)
    assert {n: (r["verdict"], r["detections"]) for n, r in rows.items()} != \
        {n: (r["verdict"], r["detections"]) for n, r in shipped.items()}


@pytest.mark.slow
def test_an_int8_export_is_evaluated_as_the_station_runs_it(tmp_path: Path) -> None:
    """`station export-model --int8`, then the INT8 file in the station's detector: eval agrees with run."""
    model = tmp_path / "solder_yolov8n.pt"
    shutil.copy(DEMO / "models" / "solder_yolov8n.pt", model)
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for part in sorted(PARTS.glob("solder_1*.jpg"))[:6]:
        shutil.copy(part, calibration / part.name)
    export = CliRunner().invoke(station, ["export-model", "--model", str(model), "--int8", "--calibration",
                                          str(calibration), "--tolerance", "1.0"])
    assert export.exit_code == 0, export.output
    int8 = tmp_path / "solder_yolov8n_int8.onnx"
    assert int8.is_file(), export.output
    data = demo_split(tmp_path / "data")
    config = station_yaml(tmp_path, tmp_path / "data" / "images" / "test")
    config.write_text(config.read_text().replace("kind: onnx", f"kind: onnx\n  model: {int8}"))
    assert_eval_agrees_with_station_run(tmp_path, config, data)
    assert "solder_yolov8n_int8" in json.loads((tmp_path / "eval" / "metrics.json").read_text())["model_id"]


def test_the_recipe_judge_decides_not_the_confidence_alone(tmp_path: Path) -> None:
    """An area rule no detection meets: every part passes, so every defective part is an escape, although
    the confidences alone would reject them (the old thresholds-only count)."""
    data = demo_split(tmp_path / "data", CHOSEN[:3])
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["model"] = str(DEMO / "models" / "solder_yolov8n.pt")
    for rule in recipe["classes"].values():
        rule["min_area_px"] = 10**6
    strict = tmp_path / "huge.yaml"
    strict.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "eval"
    result = CliRunner().invoke(station, ["eval", "--recipe", str(strict), "--model",
                                          str(DEMO / "models" / "solder_yolov8n.onnx"), "--data", str(data),
                                          "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = eval_rows(out)
    assert {row["verdict"] for row in rows.values()} == {"PASS"}
    assert json.loads((out / "metrics.json").read_text())["escape_rate"] == 1.0
    assert any(int(r["truth_boxes"]) for r in rows.values())


def test_an_exported_model_without_a_recipe_is_a_clear_usage_error(tmp_path: Path) -> None:
    data = demo_split(tmp_path / "data", CHOSEN[:1])
    result = CliRunner().invoke(station, ["eval", "--model", str(DEMO / "models" / "solder_yolov8n.onnx"),
                                          "--data", str(data)])
    assert result.exit_code == 2 and "add --recipe or --config" in result.output


def test_a_model_file_of_unknown_kind_names_the_choices(tmp_path: Path) -> None:
    from training.line_eval import runtime_for

    assert runtime_for(Path("m_int8.onnx")) == "onnx" and runtime_for(Path("m.xml")) == "openvino"
    with pytest.raises(ValueError, match="expected one of .pt, .onnx"):
        runtime_for(Path("model.tflite"))
