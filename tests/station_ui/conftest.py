"""Console tests: real PyQt6 widgets offscreen, a real Station over a replay camera and a real YOLO file."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import QSettings

import station_ui  # noqa: F401  (drops the Qt plugin path opencv sets)
from inspection.config import StationConfig, load_station_config


@pytest.fixture(autouse=True)
def _console_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any window a test opens without explicit settings remembers its layout in a temporary file."""
    monkeypatch.setenv("STATION_CONSOLE_SETTINGS", str(tmp_path / "default-console.ini"))


@pytest.fixture
def ui_settings(tmp_path: Path) -> QSettings:
    """Settings in a temporary file: tests never touch the user's real console settings."""
    return QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def console_config(station_yaml: Path, parts_dir: Path) -> StationConfig:
    """The shared station config (replay over 6 generated parts, untrained YOLO) plus one corrupt image."""
    (parts_dir / "part_9999.png").write_bytes(b"not a png")
    return load_station_config(station_yaml)


@pytest.fixture
def make_window(qtbot, ui_settings: QSettings, tmp_path: Path) -> Iterator[Callable[..., object]]:
    from station_ui.window import MainWindow

    windows: list[MainWindow] = []
    threads_before = set(threading.enumerate())

    def make(config: StationConfig | None, db_path: Path | None = None, **kwargs: object) -> MainWindow:
        window = MainWindow(config, db_path or tmp_path / "station.db", settings=ui_settings, **kwargs)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        assert window.shutdown(timeout_s=30.0), "the pipeline thread did not stop"
    leaked = [t for t in set(threading.enumerate()) - threads_before
              if t.name.startswith("station-pipeline") and t.is_alive()]
    assert not leaked, f"pipeline threads left running: {leaked}"
