"""The anomaly heat map in the console: the paint demo (YOLO + anomaly model) run by a real station, the
toggle (H) blending the map over the live image, the failure view and the history preview (from the archive);
a YOLO-only station shows exactly what it showed before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

from inspection.config import StationConfig, load_station_config
from inspection.demo import demo_config_path

pytestmark = pytest.mark.ui

RUN_TIMEOUT_MS = 120_000


def _pixels(widget) -> np.ndarray:  # type: ignore[no-untyped-def]
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    raw = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8)
    return raw.reshape(image.height(), image.bytesPerLine())[:, :image.width() * 3].copy()


def _run_to_end(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.start()
    qtbot.waitUntil(lambda: window.state in ("finished", "error"), timeout=RUN_TIMEOUT_MS)
    assert window.state == "finished", window.state_label.text()
    qtbot.waitUntil(lambda: window.counters.text_of("inspected") == str(window.bridge.received), timeout=5000)


@pytest.fixture
def paint_config(tmp_path: Path) -> StationConfig:
    """The bundled paint demo, first 4 panels (2 defective), as fast as the models go."""
    base = load_station_config(demo_config_path("paint"))
    camera = base.cameras[0].model_dump() | {"rate_hz": None, "max_parts": 4}
    return load_station_config(demo_config_path("paint"), {"data_dir": str(tmp_path), "cameras": [camera]})


def test_heat_map_toggle_blends_the_anomaly_map_live_in_failures_and_history(
        qtbot, make_window, paint_config: StationConfig, tmp_path: Path) -> None:
    window = make_window(paint_config, tmp_path / "paint.db")
    assert not window.heatmap_action.isChecked()  # off by default: nothing changes until asked for
    _run_to_end(qtbot, window)
    view = window.camera_views["cam0"]
    assert view.heatmap is not None and view.heatmap.dtype == np.uint8 and not view.heatmap_shown
    plain = _pixels(view)

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert window.heatmap_action.isChecked() and view.heatmap_shown
    heated = _pixels(view)
    assert heated.shape == plain.shape
    assert np.abs(heated.astype(int) - plain.astype(int)).mean() > 5  # the colours cover the whole image
    window.heatmap_action.trigger()
    assert not view.heatmap_shown and np.array_equal(_pixels(view), plain)  # off again: the image as it was
    window.heatmap_action.trigger()

    assert window.failures.count() >= 1  # defective panels failed or went to review
    failed = next((i for i in window.failures.inspections if i.heatmap is not None), None)
    assert failed is not None
    assert failed.heatmap is not None and int(failed.heatmap.max()) >= 128  # hot at/above the threshold
    dialog = window.show_failure(failed)
    assert dialog.frame_view.heatmap_shown and dialog.heatmap_check.isChecked()
    with_heat = _pixels(dialog.frame_view)
    dialog.heatmap_check.setChecked(False)
    assert not dialog.frame_view.heatmap_shown and not np.array_equal(_pixels(dialog.frame_view), with_heat)
    dialog.close()

    window.tabs.setCurrentWidget(window.history)
    window.history.verdict.setCurrentText(failed.verdict.status.value)
    window.history.part.setText(failed.frame.key)
    window.history.refresh()
    assert len(window.history.rows) == 1
    window.history.table.selectRow(0)
    preview = window.history.preview
    assert preview.heatmap is not None and preview.heatmap_shown  # read back from `<image>.heat.png`
    assert preview.heatmap.shape == failed.heatmap.shape


def test_yolo_only_station_looks_the_same_with_the_heat_map_on(qtbot, make_window, station_yaml: Path,
                                                              tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"  # every low-confidence box of the untrained model counts: parts fail
    recipe.write_text(recipe.read_text().replace("min_confidence: 0.5", "min_confidence: 0.0")
                      .replace("min_confidence: 0.3", "min_confidence: 0.0"))
    window = make_window(load_station_config(station_yaml, {"detector": {"conf": 0.0001}}), tmp_path / "yolo.db")
    _run_to_end(qtbot, window)
    view = window.camera_views["cam0"]
    assert view.heatmap is None
    plain = _pixels(view)
    window.set_heatmap(True)
    assert window.heatmap_action.isChecked() and not view.heatmap_shown
    assert np.array_equal(_pixels(view), plain)
    dialog = window.show_failure(window.failures.inspections[0])
    assert not hasattr(dialog, "heatmap_check")  # no heat map, no checkbox
    dialog.close()
