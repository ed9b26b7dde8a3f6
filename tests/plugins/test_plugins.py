"""A third-party adapter package plugs in without editing the station.

`fake_plc_plugin/` is a separate distribution (its own pyproject.toml) with a PLC protocol (`textplc`:
adapter, default signal map, simulator, docs) and an inference backend (`ortsingle`). The fixture lays it
out on sys.path as a wheel install would (the package and a `*.dist-info` with its entry points, which
importlib.metadata finds), in seconds and offline. Then every list of choices must offer the new kinds and
a station must run with them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from inspection.adapters import entry_points as plugins
from inspection.adapters.registry import adapter_module, known_kinds
from inspection.cli import station
from inspection.config import load_station_config
from inspection.errors import ConfigError

PLUGIN_SRC = Path(__file__).resolve().parent / "fake_plc_plugin"
DEMO = Path(__file__).resolve().parents[2] / "inspection" / "demo"
FAST = {"timeout_s": 0.5, "connect_timeout_s": 1.0, "heartbeat_period_s": 0.05, "poll_period_s": 0.01,
        "reconnect_backoff_s": 0.05, "reconnect_backoff_max_s": 0.2}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin installed as a wheel would be: its package plus a `*.dist-info` (METADATA and the entry
    points, both generated from its pyproject.toml) in a site folder that importlib.metadata scans."""
    project = tomllib.loads((PLUGIN_SRC / "pyproject.toml").read_text())["project"]
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(PLUGIN_SRC / "fake_plc_plugin", site / "fake_plc_plugin")
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project["entry-points"].items():
        lines += [f"[{group}]", *(f"{name} = {value}" for name, value in entries.items()), ""]
    (info / "entry_points.txt").write_text("\n".join(lines))
    return site


@pytest.fixture
def installed(plugin_site: Path) -> Iterator[Path]:
    sys.path.insert(0, str(plugin_site))
    plugins.refresh()
    try:
        yield plugin_site
    finally:
        sys.path.remove(str(plugin_site))
        for name in [m for m in sys.modules if m == "fake_plc_plugin" or m.startswith("fake_plc_plugin.")]:
            del sys.modules[name]
        plugins.refresh()


def test_without_the_plugin_its_kinds_are_unknown_and_the_error_names_the_installed_ones() -> None:
    plugins.refresh()
    assert "textplc" not in known_kinds("output")
    with pytest.raises(ConfigError) as err:
        adapter_module("output", "textplc")
    assert "unknown output kind 'textplc'; installed: " in str(err.value)
    assert all(kind in str(err.value) for kind in ("modbus", "s7", "opcua"))


def test_the_new_kinds_are_registered_by_the_plugin_distribution(installed: Path) -> None:
    assert "textplc" in known_kinds("output") and "ortsingle" in known_kinds("detector")
    entry = plugins.adapter_entries()["output"]["textplc"]
    assert (entry.module, entry.distribution) == ("fake_plc_plugin.textplc", "fake-plc-plugin")
    assert plugins.kinds_with_hook("output", "simulator") == ("modbus", "opcua", "s7", "textplc")
    assert "ortsingle" in plugins.kinds_with_hook("detector", "export_from_onnx")
    with pytest.raises(ConfigError, match="installed: .*textplc"):
        adapter_module("output", "txtplc")


def test_every_cli_list_of_choices_offers_them(installed: Path) -> None:
    runner = CliRunner()
    for args, kind in ((["plc-sim", "--help"], "textplc"), (["export-model", "--help"], "ortsingle"),
                       (["bench", "--help"], "ortsingle")):
        result = runner.invoke(station, args)
        assert result.exit_code == 0 and kind in result.output, (args, result.output)
    listing = runner.invoke(station, ["adapters", "--port", "output"]).output
    assert "textplc" in listing and "[fake-plc-plugin]" in listing and "textplc.md" in listing


def test_a_fresh_station_process_finds_the_plugin(installed: Path) -> None:
    """No in-process cache involved: the installed `station` script on a path with the plugin."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([str(Path(sys.executable).parent / "station"), "plc-sim", "--help"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "textplc" in result.stdout, result.stderr


@pytest.mark.plc
def test_plc_sim_runs_the_plugins_simulator_with_its_default_map(installed: Path) -> None:
    from inspection.outputs.plc_sim import free_port

    port = free_port()
    result = CliRunner().invoke(station, ["plc-sim", "--protocol", "textplc", "--port", str(port),
                                          "--duration-s", "0.3"])
    assert result.exit_code == 0, result.output
    assert f"textplc PLC simulator on 127.0.0.1:{port} (12 signals, bundled map)" in result.output
    assert "tag:Result.Reject" in result.output and "stopped after 0 writes" in result.output


@pytest.mark.plc
def test_config_validates_and_the_station_writes_verdicts_through_the_plugins(installed: Path,
                                                                              tmp_path: Path) -> None:
    from inspection.outputs.plc_sim import make_sim
    from inspection.runtime.pipeline import Station

    sim = make_sim("textplc")  # the plugin's simulator, with the plugin's default signal map
    path = tmp_path / "station.yaml"
    raw = {"name": "plugin-line", "data_dir": str(tmp_path / "data"), "recipe": str(DEMO / "recipes" / "solder.yaml"),
           "cameras": [{"kind": "replay", "id": "cam0", "path": str(DEMO / "parts" / "solder")}],
           "detector": {"kind": "ortsingle", "model": str(DEMO / "models" / "solder_yolov8n.onnx")},
           "output": {"kind": "textplc", "port": sim.port, **FAST}, "store": {"keep_images": "none"}}
    path.write_text(yaml.safe_dump({**raw, "output": {"kind": "textplc", "port": sim.port, "unit": 1}}))
    with pytest.raises(ConfigError, match=r"output.*unit"):  # the plugin's Options are closed, like ours
        load_station_config(path)
    path.write_text(yaml.safe_dump(raw))
    config = load_station_config(path)
    assert type(config.output).__module__ == "fake_plc_plugin.textplc"
    with sim, Station(config, db_path=tmp_path / "line.db") as line:
        summary = line.run(max_parts=8)
        assert summary.parts == 8 and line.output.stats.delivered == 8  # type: ignore[union-attr]
        rows = list(line.store.inspections(order_by="id"))  # type: ignore[union-attr]
        assert sim.read("outputs.sequence") == 8
        assert sim.read("outputs.reject") is (rows[-1]["verdict"] != "PASS")
        assert {r["verdict"] for r in rows} >= {"PASS", "FAIL"}  # real verdicts, both kinds
        assert all(r["model_id"].startswith("solder_yolov8n@") for r in rows)
        assert line.detector.backend.name == "ortsingle"  # type: ignore[union-attr]


@pytest.mark.slow
def test_station_export_writes_the_plugins_format(installed: Path, tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")  # exporting needs the [train] extra
    out = tmp_path / "solder.single.onnx"
    result = CliRunner().invoke(station, ["export-model", "--model", str(DEMO / "models" / "solder_yolov8n.pt"),
                                          "--format", "ortsingle", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "exported ortsingle" in result.output and "verified on" in result.output
