"""Measuring in the console: the zone recipe's zones drawn over the live image, each defect's size in its label,
and the cameras' calibration dates in the status bar."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from inspection.config import StationConfig, load_station_config
from inspection.demo import demo_config_path
from inspection.domain.calibration import Calibration, save_calibration
from station_ui.widgets import overlays_of

pytestmark = pytest.mark.ui

ZONES = Path(demo_config_path("paint")).parent / "recipes" / "paint_zones.yaml"


@pytest.fixture
def zone_config(tmp_path: Path) -> StationConfig:
    base = load_station_config(demo_config_path("paint"))
    camera = base.cameras[0].model_dump() | {"rate_hz": None, "max_parts": 4}
    return load_station_config(demo_config_path("paint"), {"data_dir": str(tmp_path), "cameras": [camera],
                                                           "recipe": str(ZONES)})


def test_zones_sizes_and_calibration_date_shown(qtbot, make_window, zone_config: StationConfig,
                                                tmp_path: Path) -> None:
    window = make_window(zone_config, tmp_path / "zones.db")
    assert "cam0: not calibrated" in window.calibration_label.text()
    calibration = Calibration("cam0", datetime(2026, 12, 1, 8, 30, tzinfo=UTC).isoformat(), (320, 320),
                              np.eye(3), np.zeros(5), np.diag([0.1, 0.1, 1.0]), 0.1, 0.05, 5)
    save_calibration(calibration, zone_config.calibrations_dir)
    seen: list[str] = []
    window.bridge.frameReady.connect(lambda inspection: seen.extend(o.label for o in overlays_of(inspection)))
    window.start()
    qtbot.waitUntil(lambda: window.state in ("finished", "error"), timeout=120_000)
    assert window.state == "finished", window.state_label.text()
    assert "cam0: calibrated 2026-12-01 08:30 (0.1000 mm/px)" in window.calibration_label.text()
    view = window.camera_views["cam0"]
    names = [name for name, _ in view.zones]
    assert names == ["class_a", "rim"]
    assert np.allclose(view.zones[0][1], [[80, 80], [240, 80], [240, 240], [80, 240]])  # 8..24 mm at 0.1 mm/px
    assert seen and all(" mm, L " in label for label in seen), seen  # each defect's measured size
