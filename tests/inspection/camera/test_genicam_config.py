"""The genicam camera's configuration: camera YAML files, inline options, producers, feature order."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspection.camera.genicam import ENV_PRODUCER_PATH, Options, load_camera_options, resolve_producers
from inspection.camera.genicam_nodes import settings_plan
from inspection.config import validate_model
from inspection.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "camera_configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_bundled_camera_yaml_is_valid(path: Path) -> None:
    options = load_camera_options(path)
    assert options.kind == "genicam"
    assert options.producers, f"{path.name} must name its producers"


def test_vendor_examples_name_producers_per_os() -> None:
    for name in ("basler_ace2.yaml", "flir_blackfly_s.yaml", "allied_vision_alvium.yaml", "hikrobot.yaml"):
        options = load_camera_options(CONFIGS / name)
        assert isinstance(options.producers, dict) and {"linux", "windows"} <= set(options.producers), name
        assert all(str(p).endswith(".cti") for paths in options.producers.values() for p in paths)


def test_viky_yaml_points_into_the_installed_genicam_wheel() -> None:
    import genicam

    options = load_camera_options(CONFIGS / "viky.yaml")
    assert options.producers == (Path(genicam.__file__).parent / "viky.cti",)
    assert (options.pixel_format, options.width, options.height) == ("Mono8", 800, 600)


def _station_camera(tmp_path: Path, entry: dict) -> Options:
    return validate_model(Options, entry, str(tmp_path / "station.yaml"), "cameras.0", base_dir=tmp_path)


def test_station_entry_with_config_merges_the_camera_yaml_and_inline_keys_win(tmp_path: Path) -> None:
    entry = {"kind": "genicam", "id": "top", "config": str(CONFIGS / "viky.yaml"),
             "device": {"serial": "2"}, "width": 320, "reconnect": {"budget_s": 5}}
    options = _station_camera(tmp_path, entry)
    assert options.id == "top"
    assert options.device.serial == "2" and options.width == 320
    assert options.height == 600 and options.pixel_format == "Mono8"  # from viky.yaml
    assert options.reconnect.budget_s == 5 and options.reconnect.initial_backoff_s == 0.2  # nested merge
    assert options.producers and options.producers[0].name == "viky.cti"


def test_config_relative_to_the_station_file(tmp_path: Path) -> None:
    cams = tmp_path / "cams"
    cams.mkdir()
    (cams / "mine.yaml").write_text("producers: [producer/x.cti]\npixel_format: RGBa8\n", encoding="utf-8")
    options = _station_camera(tmp_path, {"kind": "genicam", "config": "cams/mine.yaml"})
    # The camera file's own paths resolve next to it, not next to the station YAML.
    assert options.producers == (cams / "producer" / "x.cti",)
    assert options.pixel_format == "RGBa8"


def test_error_in_camera_yaml_names_that_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad_camera.yaml"
    bad.write_text("producers: []\nwidht: 640\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad_camera\.yaml: widht: unknown key"):
        _station_camera(tmp_path, {"kind": "genicam", "config": str(bad)})


def test_missing_camera_yaml_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        _station_camera(tmp_path, {"kind": "genicam", "config": "nope.yaml"})


@pytest.mark.parametrize(("entry", "message"), [
    ({"trigger": {"mode": "sometimes"}}, r"trigger\.mode"),
    ({"width": 0}, r"width: Input should be greater than 0"),
    ({"output": "rgb8"}, r"output"),
    ({"features": ["Gain"]}, r"features.*Node: value"),
    ({"producers": ["package:no_such_package_xyz/a.cti"]}, r"no_such_package_xyz.*not installed"),
])
def test_bad_inline_values_are_named(tmp_path: Path, entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _station_camera(tmp_path, {"kind": "genicam", **entry})


def test_features_keep_their_order_and_allow_repeats() -> None:
    options = Options(features=[{"LineSelector": "Line1"}, {"LineMode": "Output"}, {"LineSelector": "Line2"}])
    assert options.features == (("LineSelector", "Line1"), ("LineMode", "Output"), ("LineSelector", "Line2"))


def test_settings_are_written_in_the_documented_order() -> None:
    options = Options(setup={"UserSetLoad": "execute"}, pixel_format="Mono8", width=640, height=480, offset_x=8,
                      frame_rate_hz=30, exposure_us=1000, gain_db=1, trigger={"mode": "hardware", "source": "Line1"},
                      features={"LineMode": "Output"})
    steps = [(step, node) for step, node, _, _ in settings_plan(options)]
    assert steps == [
        ("setup", "UserSetLoad"), ("format", "PixelFormat"),
        ("roi", "OffsetX"), ("roi", "Width"), ("roi", "Height"), ("roi", "OffsetX"),
        ("rate", "AcquisitionFrameRateEnable"), ("rate", "AcquisitionFrameRate"),
        ("exposure", "ExposureAuto"), ("exposure", "ExposureTime"), ("gain", "GainAuto"), ("gain", "Gain"),
        ("trigger", "TriggerSelector"), ("trigger", "TriggerMode"), ("trigger", "TriggerSource"),
        ("features", "LineMode"),
    ]
    plan = settings_plan(options)
    assert plan[2][2] == 0 and plan[5][2] == 8, "offset goes to 0 before the size, then to its value"


def test_missing_producer_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "vendor" / "Producer.cti"
    with pytest.raises(ConfigError, match=rf"GenTL producer {missing} does not exist"):
        resolve_producers(Options(producers=[str(missing)]))


def test_producers_for_another_os_only_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"producers: no entry for this OS"):
        resolve_producers(Options(producers={"plan9": [str(tmp_path / "x.cti")]}))


def test_producers_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "One.cti").write_bytes(b"")
    (second / "Two.cti").write_bytes(b"")
    (second / "readme.txt").write_text("not a producer", encoding="utf-8")
    monkeypatch.setenv(ENV_PRODUCER_PATH, f"{first}:{second}:{tmp_path / 'gone'}")
    assert [p.name for p in resolve_producers(Options())] == ["One.cti", "Two.cti"]


@pytest.mark.parametrize("value", [None, "", "/nonexistent/folder"])
def test_no_producer_anywhere_says_what_to_set(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv(ENV_PRODUCER_PATH, raising=False)
    else:
        monkeypatch.setenv(ENV_PRODUCER_PATH, value)
    with pytest.raises(ConfigError, match=rf"no GenTL producer.*producers:.*{ENV_PRODUCER_PATH}"):
        resolve_producers(Options())


def test_station_config_accepts_a_genicam_camera(tmp_path: Path) -> None:
    from inspection.config import load_station_config

    station_yaml = tmp_path / "station.yaml"
    station_yaml.write_text(
        "name: t\nrecipe: recipe.yaml\ndetector:\n  kind: ultralytics\n"
        f"cameras:\n  - kind: genicam\n    id: top\n    config: {CONFIGS / 'viky.yaml'}\n"
        "    device: {serial: '1'}\n", encoding="utf-8")
    camera = load_station_config(station_yaml).cameras[0]
    assert isinstance(camera, Options) and camera.id == "top" and camera.device.serial == "1"
    assert load_camera_options(station_yaml, "top") == camera
    with pytest.raises(ConfigError, match=r"no 'kind: genicam' camera with id 'side'"):
        load_camera_options(station_yaml, "side")
