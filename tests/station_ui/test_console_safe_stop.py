"""A station that stops itself safely (a stage that keeps failing) shows it: error state, the core's alarm title."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inspection.config import load_station_config
from inspection.domain.codes import AlarmKind
from inspection.runtime.pipeline import Station

pytestmark = pytest.mark.ui


class Bug(BaseException):
    """Not an Exception: escapes every `except Exception` and reaches the stage supervisor."""


def test_safe_stop_shows_the_error_state_and_the_core_alarm_title(qtbot, make_window, tmp_path: Path,
                                                                  station_yaml: Path, parts_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real_warmup = Station.warmup

    def warmup_then_break(self: Station) -> None:
        real_warmup(self)

        def detect(frame: Any) -> Any:
            raise Bug("the model runtime is broken")

        self.detector.detect = detect  # type: ignore[union-attr,method-assign]

    monkeypatch.setattr(Station, "warmup", warmup_then_break)
    config = load_station_config(station_yaml, {"cameras": [{"kind": "replay", "id": "cam0", "path": str(parts_dir),
                                                             "loop": True}]})
    window = make_window(config, tmp_path / "station.db")
    window.start()
    qtbot.waitUntil(lambda: window.state == "error", timeout=120_000)
    qtbot.waitUntil(lambda: "safe_stop" in window.alarm_banner.alarms, timeout=5000)
    assert AlarmKind.SAFE_STOP.title in window.alarm_banner.label.text()
    assert "infer" in window.alarm_banner.alarms["safe_stop"][1]  # names the stage that failed
    assert window.start_action.isEnabled()
    assert window.runner is not None and window.runner.join(10.0)
