from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.config import load_station_config


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(station, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_help_lists_every_command_with_a_description() -> None:
    code, out = invoke("--help")
    assert code == 0 and "Inspection station" in out
    ctx = station.make_context("station", [])
    names = station.list_commands(ctx)
    assert {"run", "demo", "export"} <= set(names)
    for name in names:
        command = station.get_command(ctx, name)
        assert command is not None and command.get_short_help_str(), f"`station {name}` has no help text"


def test_run_headless_prints_parts_and_summary(station_yaml: Path, tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    code, out = invoke("run", "--config", str(station_yaml), "--headless", "--db", str(db))
    assert code == 0, out
    assert out.count("cam0#") == 6
    for line in ("parts      6", "yield", "fps", "latency", str(db)):
        assert line in out
    code, out = invoke("export", "--db", str(db), "--out", str(tmp_path / "log.csv"))
    assert code == 0 and "wrote 6 parts" in out
    assert len(list(csv.DictReader(open(tmp_path / "log.csv")))) == 6


@pytest.mark.parametrize(
    ("patch", "exit_code", "message"),
    [
        ("detector:\n  kind: ultralytics\n  model: /nonexistent/model.pt\n", 3, "model.pt does not exist"),
        ("bogus_key: 1\n", 2, "bogus_key: unknown key"),
    ],
)
def test_bad_input_gives_one_clear_message_and_exit_code(
    station_yaml: Path, patch: str, exit_code: int, message: str, override_yaml: Callable[[Path, str], None]
) -> None:
    override_yaml(station_yaml, patch)
    result = CliRunner().invoke(station, ["run", "--config", str(station_yaml), "--headless"])
    assert result.exit_code == exit_code
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("error:") == 1


def test_missing_replay_folder_exit_code(station_yaml: Path, parts_dir: Path) -> None:
    for p in parts_dir.iterdir():
        p.unlink()
    parts_dir.rmdir()
    result = CliRunner().invoke(station, ["run", "--config", str(station_yaml), "--headless"])
    assert result.exit_code == 4 and "does not exist" in result.output


def test_a_file_name_cannot_forge_a_verdict_line(station_yaml: Path, parts_dir: Path) -> None:
    """A replay image named "…\\ncam0#99  PASS …" (or with ANSI escapes) prints on one line, escaped."""
    (parts_dir / "part_0009\n      cam0#99  PASS \x1b[32m.png").write_bytes(b"not an image")
    result = CliRunner().invoke(station, ["run", "--config", str(station_yaml), "--headless"])
    assert result.exit_code == 0, result.output
    assert not any(line.lstrip().startswith("cam0#99") for line in result.output.splitlines())
    assert "part_0009\\x0a      cam0#99  PASS \\x1b[32m.png" in result.output


def test_demo_headless_contract(tmp_path: Path) -> None:
    """`station demo --headless` runs the bundled demo with no configuration, logs to SQLite, exits 0."""
    import os
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "demo.db"
    station_bin = Path(sys.executable).parent / "station"
    env = {**os.environ, "STATION_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([str(station_bin), "demo", "--headless", "--db", str(db)], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "parts      24" in result.stdout and "yield" in result.stdout
    rows = sqlite3.connect(db).execute("select count(*), count(distinct sequence) from inspections").fetchone()
    assert rows == (24, 24)


@pytest.mark.parametrize("product", ["solder", "paint", "board"])
def test_every_demo_product_opens(product: str, tmp_path: Path) -> None:
    from inspection.demo import demo_config_path
    from inspection.runtime.pipeline import Station

    with Station(load_station_config(demo_config_path(product)), db_path=tmp_path / "s.db") as line:
        assert line.detector is not None and line.cameras
