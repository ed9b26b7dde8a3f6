from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from inspection.config import load_station_config
from inspection.domain.recipe import load_recipe
from inspection.errors import ConfigError


def test_station_config_merges_defaults_and_resolves_paths(station_yaml: Path) -> None:
    config = load_station_config(station_yaml)
    assert config.output.kind == "none"  # from defaults.yaml
    assert config.store.keep_images == "failures"
    assert config.recipe == station_yaml.parent / "recipe.yaml"
    assert config.cameras[0].kind == "replay" and config.cameras[0].id == "cam0"
    assert config.db_path == station_yaml.parent / "data" / "station.db"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("camras: []\n", "camras: unknown key"),
        ("detector:\n  kind: ultralytics\n  device: gpu9\n", "detector.device: String should match"),
        ("detector:\n  kind: tensorflow\n", "detector.kind: unknown detector kind 'tensorflow'"),
        ("store:\n  keep_images: most\n", "store.keep_images: Input should be 'all', 'failures'"),
        ("cameras:\n  - kind: replay\n    id: cam0\n    path: x\n    rate_hz: fast\n",
         "cameras.0.rate_hz: Input should be a valid number"),
        ("cameras:\n  - kind: replay\n    path: a\n  - kind: replay\n    path: b\n", "camera ids must be unique"),
        ("cameras: {kind: replay}\n", "cameras: expected a list"),
        ("name: line+1\n", "name: String should match pattern"),  # an MQTT wildcard: every connect refused
    ],
)
def test_bad_station_config_names_file_key_and_expectation(station_yaml: Path, patch: str, expected: str,
                                                           override_yaml: Callable[[Path, str], None]) -> None:
    override_yaml(station_yaml, patch)
    with pytest.raises(ConfigError) as info:
        load_station_config(station_yaml)
    assert expected in str(info.value)
    assert str(station_yaml) in str(info.value)


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_station_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [\n  - kind: replay\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line \d+"):
        load_station_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_station_config(scalar)


def test_recipe_validation(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nclasses:\n  bridge:\n    min_length_mm: 0.2\n")
    with pytest.raises(ConfigError, match="set pixel_size_mm"):
        load_recipe(recipe)
    recipe.write_text("name: r\nclasses:\n  bridge:\n    min_confidence: 2\n")
    with pytest.raises(ConfigError, match=r"classes.bridge.min_confidence: Input should be less than or equal to 1"):
        load_recipe(recipe)
    recipe.write_text("name: r\nroi:\n  include: [[[0, 0], [1, 1]]]\n")
    with pytest.raises(ConfigError, match="at least 3 points"):
        load_recipe(recipe)
    recipe.write_text("name: r\nclasses:\n  bridge: {}\n  void: {}\n")
    with pytest.raises(ConfigError, match="void not among"):
        load_recipe(recipe).check_classes(("bridge", "missing"))


@pytest.mark.parametrize(("body", "expected"), [
    # An infinite deadline crashed the runtime's timers; a huge one is a check switched off.
    ("deadline_ms: .inf\n", "deadline_ms: Input should be a finite number"),
    ("deadline_ms: 1e300\n", "deadline_ms: Input should be less than or equal to 3600000"),
    # A NaN, infinite or flat ROI contains nothing: every detection fell outside it and every part passed.
    ("roi:\n  include: [[[.nan, .nan], [.nan, 0], [0, .nan]]]\n", "Input should be a finite number"),
    ("roi:\n  include: [[[0, 0], [.inf, 0], [0, .inf]]]\n", "Input should be a finite number"),
    ("roi:\n  include: [[[5, 5], [5, 5], [5, 5]]]\n", "encloses no area"),
    ("roi:\n  exclude: [[[0, 0], [10, 10], [20, 20]]]\n", "encloses no area"),
    ("classes:\n  bridge:\n    min_area_px: .inf\n", "Input should be a finite number"),
    ("pixel_size_mm: 1e-300\n", "pixel_size_mm: Input should be greater than or equal to 0.000001"),
])
def test_recipe_numbers_that_would_switch_a_check_off_are_refused(tmp_path: Path, body: str, expected: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n" + body)
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        load_recipe(recipe)


def test_a_station_config_refuses_infinite_numbers_everywhere(station_yaml: Path) -> None:
    station_yaml.write_text(station_yaml.read_text().replace("    id: cam0\n", "    id: cam0\n    rate_hz: .nan\n"))
    with pytest.raises(ConfigError, match="rate_hz: Input should be a finite number"):
        load_station_config(station_yaml)


@pytest.mark.parametrize(("text", "expected"), [
    ("a: " + "[" * 50_000 + "\n", "nested too deeply"),
    ("a: " + "9" * 5000 + "\n", "value not accepted"),
    ("name: x\ncameras: []\nname: y\n", r"not valid YAML at line 3.*key 'name' given twice \(first at line 1\)"),
    ("name: x\ncameras: [{kind: replay, path: p}]\ndetector: {kind: [onnx]}\n", "detector.kind: expected a name"),
    ("name: x\ncameras: [{kind: replay, path: p}]\ndetector: {kind: onnx}\nrecipe: ~nobody-has-this-name/r.yaml\n",
     "nobody-has-this-name"),
])
def test_hostile_yaml_is_a_config_error_not_a_traceback(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_station_config(path)


def test_a_config_path_that_is_a_device_or_a_fifo_is_refused_without_reading_it(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(ConfigError, match="not a regular file"):
        load_station_config(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_recipe(Path("/dev/zero"))  # reading it would fill the memory
