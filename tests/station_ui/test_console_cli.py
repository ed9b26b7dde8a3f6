"""`station console` and the Qt start-up environment."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner
from PyQt6.QtWidgets import QApplication

import station_ui.cli
from inspection.cli import station
from station_ui.qtenv import prepare_qt_environment
from station_ui.window import MainWindow

pytestmark = pytest.mark.ui


def test_opencv_qt_plugin_path_is_dropped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cv2_plugins = Path(cv2.__file__).parent / "qt" / "plugins"
    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", str(cv2_plugins))
    monkeypatch.setenv("QT_PLUGIN_PATH", str(tmp_path))  # someone else's: kept
    assert prepare_qt_environment() == ["QT_QPA_PLATFORM_PLUGIN_PATH"]
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in os.environ and os.environ["QT_PLUGIN_PATH"] == str(tmp_path)


def test_console_is_a_station_command() -> None:
    result = CliRunner().invoke(station, ["--help"])
    assert result.exit_code == 0 and "console" in result.output
    result = CliRunner().invoke(station, ["console", "--help"])
    assert result.exit_code == 0
    for option in ("--config", "--product", "--db", "--require-login"):
        assert option in result.output


def test_console_command_opens_the_window_on_a_config(qtbot, monkeypatch: pytest.MonkeyPatch,
                                                      station_yaml: Path, tmp_path: Path) -> None:
    seen: list[MainWindow] = []

    def fake_exec(app: QApplication, window: MainWindow) -> int:  # exec() would end the test's QApplication
        seen.append(window)
        assert window.isVisible()
        window.close()
        return 0

    monkeypatch.setattr(station_ui.cli, "_exec", fake_exec)
    db = tmp_path / "console.db"
    result = CliRunner().invoke(station, ["console", "--config", str(station_yaml), "--db", str(db), "--no-start",
                                          "--require-login"])
    assert result.exit_code == 0, result.output
    assert len(seen) == 1 and seen[0].user is None and seen[0].db_path == db
    assert seen[0].runner is None and db.exists()
    assert Path(os.environ["STATION_CONSOLE_SETTINGS"]).exists()  # layout saved, in the test's file


def test_bad_config_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "station.yaml"
    bad.write_text("name: x\ncameras: nope\n", encoding="utf-8")
    result = CliRunner().invoke(station, ["console", "--config", str(bad)])
    assert result.exit_code == 2 and "cameras" in result.output


@pytest.mark.parametrize(("message", "kind"), [
    ("camera_error: cam0: device lost", "camera_error"),
    ("output_error: modbus 127.0.0.1:5020 timed out", "output_error"),
    ("record_backlog: the verdict log fell 64 parts behind", "record_backlog"),
    ("cannot log part cam0#3 to /data/station.db: database is locked", "database"),
    ("model file /m/x.pt does not exist; check detector.model", "model"),
    ("inspection of cam0#4 failed: RuntimeError: boom", "station"),
])
def test_core_errors_become_named_alarms(message: str, kind: str) -> None:
    from station_ui.bridge import alarm_kind_for

    assert alarm_kind_for(message) == kind


def test_console_explains_instead_of_qt_s_abort(tmp_path: Path) -> None:
    """A platform Qt cannot load: the doctor's diagnosis and exit code 3, before any QApplication exists."""
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "nosuchplatform", "STATION_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "inspection.cli", "console"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "The console cannot start on this machine" in result.stderr
    assert "✗ platform plugin nosuchplatform" in result.stderr and "offscreen" in result.stderr
    assert "could not load the Qt platform plugin" not in result.stderr  # Qt never got to abort


@pytest.mark.plc
def test_demo_console_loops_with_plc_and_process_in_process(qtbot, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """`station demo` opens the console on the live demo: the 24 bundled parts go round until it closes."""
    from inspection.records.store import Store

    seen: list[int] = []

    def fake_exec(app: QApplication, window: MainWindow) -> int:
        assert window.runner is not None
        qtbot.waitUntil(lambda: int(window.counters.text_of("inspected") or 0) > 26, timeout=120_000)
        seen.append(int(window.counters.text_of("inspected")))
        window.close()
        return 0

    monkeypatch.setattr(station_ui.cli, "_exec", fake_exec)
    monkeypatch.setenv("STATION_DATA_DIR", str(tmp_path))
    db = tmp_path / "live.db"
    result = CliRunner().invoke(station, ["demo", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert seen and seen[0] > 24
    with Store(db) as store:
        assert len(store.query("select id from inspections")) > 24
        assert len(list(store.db["process_parts"].rows)) > 24  # the controller saw every part


def test_sigterm_closes_the_console_like_the_operator(station_yaml: Path, tmp_path: Path) -> None:
    """systemd or a PC shutdown sends SIGTERM to a real `station console` process: the running line stops,
    the log drains and closes in order (station_closed), exit 0."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    config = station_yaml.read_text(encoding="utf-8").replace(
        "    id: cam0\n", "    id: cam0\n    loop: true\n    rate_hz: 20\n")
    station_yaml.write_text(config + "security:\n  require_login: false\n", encoding="utf-8")
    db = tmp_path / "sigterm.db"

    def rows(sql: str) -> list[tuple[object, ...]]:
        try:
            with sqlite3.connect(db, timeout=5) as con:
                return con.execute(sql).fetchall()
        except sqlite3.Error:  # not created yet
            return []

    console = subprocess.Popen(
        [str(Path(sys.executable).with_name("station")), "console", "--config", str(station_yaml), "--db", str(db),
         "--start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    try:
        deadline = time.monotonic() + 120
        while not rows("select id from inspections limit 3 offset 2"):
            assert console.poll() is None and time.monotonic() < deadline, console.communicate(timeout=10)[0]
            time.sleep(0.2)
        console.send_signal(signal.SIGTERM)
        output = console.communicate(timeout=60)[0]
    finally:
        if console.poll() is None:
            console.kill()
    assert console.returncode == 0, output
    kinds = [r[0] for r in rows("select kind from events where kind like 'station_%' order by id")]
    assert kinds[-2:] == ["station_started", "station_closed"]
    assert len(rows("select id from inspections")) >= 3
