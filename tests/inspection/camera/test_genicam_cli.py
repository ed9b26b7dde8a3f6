"""The camera commands' contract: `station cameras`, `station snap`, `station record` (scripts call these)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from inspection.camera.genicam import ENV_PRODUCER_PATH
from inspection.camera.recording import read_recording
from inspection.cli import station

pytestmark = pytest.mark.camera

genicam = pytest.importorskip("genicam")
VIKY = Path(genicam.__file__).parent / "viky.cti"
REPO = Path(__file__).resolve().parents[3]
VIKY_YAML = REPO / "camera_configs" / "viky.yaml"
VIKY_LINES = [f"Machine Vision Games Ltd.\tViky\t{s}\tCustom:VikyTL_ITF_UnivIF" for s in "012"]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(station, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cameras_lists_one_device_a_line_from_the_camera_yaml() -> None:
    code, out, _ = run("cameras", "--config", str(VIKY_YAML))
    assert code == 0
    assert out.splitlines() == VIKY_LINES


def test_cameras_without_config_uses_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PRODUCER_PATH, str(VIKY.parent))
    code, out, _ = run("cameras")
    assert code == 0 and out.splitlines() == VIKY_LINES


def test_cameras_without_any_producer_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_PRODUCER_PATH, raising=False)
    code, out, err = run("cameras")
    assert code == 2 and out == ""  # ConfigError's exit code
    assert "no GenTL producer" in err and ENV_PRODUCER_PATH in err


def test_snap_saves_one_frame_of_the_configured_camera(tmp_path: Path) -> None:
    target = tmp_path / "shots" / "top.png"
    code, out, _ = run("snap", "--config", str(VIKY_YAML), "--output", str(target))
    assert code == 0 and "saved" in out
    image = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.shape == (600, 800, 3)  # viky.yaml: 800x600, output bgr8


def test_snap_without_config_uses_the_first_device_on_the_environment(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PRODUCER_PATH, str(VIKY.parent))
    code, _, _ = run("snap", "--output", str(tmp_path / "any.png"))
    assert code == 0 and cv2.imread(str(tmp_path / "any.png")) is not None


def test_snap_with_a_bad_feature_value_exits_with_the_node_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(VIKY_YAML.read_text(encoding="utf-8").replace("width: 800", "width: 5000"), encoding="utf-8")
    bad.write_text(bad.read_text(encoding="utf-8").replace("package:genicam/viky.cti", str(VIKY)),
                   encoding="utf-8")
    code, _, err = run("snap", "--config", str(bad), "--output", str(tmp_path / "x.png"))
    assert code == 2 and "node 'Width' = 5000 is out of range; this camera accepts 100 to 800" in err
    assert not (tmp_path / "x.png").exists()


def test_record_then_replay_through_a_station_camera(tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(f"producers: [{VIKY}]\ndevice: {{serial: '1'}}\npixel_format: Mono8\nwidth: 160\n"
                     "height: 120\nframe_rate_hz: 50\noutput: mono8\n", encoding="utf-8")
    code, out, _ = run("record", "--config", str(small), "--output", str(tmp_path / "rec"), "--frames", "5")
    assert code == 0 and "recorded 5 parts" in out
    entries = read_recording(tmp_path / "rec")
    assert len(entries) == 5 and all(e.pixel_format == "mono8" and e.file for e in entries)
    from inspection.adapters.registry import adapter_module, create_adapter
    from inspection.camera import EndOfStream
    from inspection.config import validate_model

    replay = validate_model(adapter_module("camera", "replay").Options, {"kind": "replay", "path": "rec"},
                            "station.yaml", base_dir=tmp_path)
    played = []
    with create_adapter("camera", replay) as camera:
        while True:
            try:
                played.append(camera.read(5.0))
            except EndOfStream:
                break
    assert [(p.camera_id, p.sequence, p.timestamp_s, p.pixel_format) for p in played] == \
        [(e.camera_id, e.sequence, e.timestamp_s, "mono8") for e in entries]
    again = run("record", "--config", str(small), "--output", str(tmp_path / "rec"), "--frames", "1")
    assert again[0] == 5 and "already holds a recording" in again[2]  # OutputError's exit code
