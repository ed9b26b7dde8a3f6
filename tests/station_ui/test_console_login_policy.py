"""`station console --config` asks for a login unless the station YAML says otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PyQt6.QtWidgets import QApplication

import station_ui.cli
from inspection.cli import station
from station_ui.window import LINE_OPERATOR, MainWindow

pytestmark = pytest.mark.ui


@pytest.mark.parametrize(("extra", "expected"), [("", None), ("security:\n  require_login: false\n", LINE_OPERATOR)])
def test_config_requires_login_by_default(qtbot, monkeypatch, station_yaml: Path, tmp_path: Path, extra, expected):
    seen: list[MainWindow] = []

    def fake_exec(app: QApplication, window: MainWindow) -> int:
        seen.append(window)
        window.close()
        return 0

    monkeypatch.setattr(station_ui.cli, "_exec", fake_exec)
    station_yaml.write_text(station_yaml.read_text() + extra)
    result = CliRunner().invoke(station, ["console", "--config", str(station_yaml), "--db", str(tmp_path / "c.db"),
                                          "--no-start"])
    assert result.exit_code == 0, result.output
    assert len(seen) == 1 and seen[0].user == expected
