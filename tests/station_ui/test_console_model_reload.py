"""The console's "Reload model" action over a real station: engineers only, refused by the core while the
line inspects (its message shown), done while paused (audited, the core logs the reload)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspection.config import load_station_config
from inspection.domain.permissions import Role, User
from inspection.people.audit import AuditLog
from inspection.records.store import Store

pytestmark = pytest.mark.ui


def test_reload_model_is_for_engineers_and_refused_while_inspecting(qtbot, make_window, station_yaml: Path,
                                                                    parts_dir: Path, tmp_path: Path) -> None:
    camera = {"kind": "replay", "id": "cam0", "path": str(parts_dir), "rate_hz": 5.0, "loop": True}
    window = make_window(load_station_config(station_yaml, {"cameras": [camera]}), tmp_path / "station.db")
    action = window.model_reloader.action
    assert not action.isVisible()  # the line operator does not get it
    window.reload_model()
    assert "may not reload the station's model" in window.last_message  # the core refuses it, not only the toolbar

    window.set_user(User("eng", Role.ENGINEER))
    assert action.isVisible() and action.isEnabled()
    action.trigger()
    qtbot.waitUntil(lambda: "not open" in window.last_message, timeout=5000)

    window.start()
    qtbot.waitUntil(lambda: window.state == "running" and window.bridge.received >= 1, timeout=120_000)
    action.trigger()
    qtbot.waitUntil(lambda: "model not reloaded" in window.last_message, timeout=30_000)
    assert "the station is inspecting: stop the line, then reload the model" in window.last_message
    assert action.isEnabled()

    window.pause()
    qtbot.waitUntil(lambda: window.state == "paused", timeout=30_000)
    action.trigger()
    qtbot.waitUntil(lambda: window.last_message.startswith("model reloaded: "), timeout=60_000)
    assert window.runner is not None and window.runner.station is not None
    assert window.last_message.endswith(str(window.runner.station.detector.model_id))
    seen = window.bridge.received
    window.start()  # resume runs on the reloaded model
    qtbot.waitUntil(lambda: window.state == "running" and window.bridge.received > seen, timeout=60_000)
    window.stop()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=30_000)
    with Store(tmp_path / "station.db") as store:
        assert [e["kind"] for e in store.events()].count("model_reloaded") == 1
        audit = [e for e in AuditLog(store).entries() if e["action"] == "reload_model"]
    assert sorted(e["allowed"] for e in audit) == [0, 1, 1, 1]  # every attempt audited, the refused one too
