"""The Live tab shows the views of one multi-view part side by side (recipe `views:`), for the newest part,
from a real station run; a recipe without `views:` keeps the plain camera view."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspection.config import load_station_config
from inspection.domain.types import Frame

pytestmark = pytest.mark.ui


def test_the_views_of_the_newest_part_side_by_side(qtbot, make_window, station_yaml: Path, tmp_path: Path) -> None:
    recipe = station_yaml.with_name("recipe.yaml")
    recipe.write_text(recipe.read_text(encoding="utf-8") + "views:\n  positions: 2\n  timeout_ms: 30000\n",
                      encoding="utf-8")
    window = make_window(load_station_config(station_yaml), tmp_path / "station.db")
    strip = window.live_views
    assert not strip.isVisible()
    window.start()
    qtbot.waitUntil(lambda: window.state in ("finished", "error"), timeout=120_000)
    assert window.state == "finished", window.state_label.text()
    qtbot.waitUntil(lambda: strip.part is not None and strip.part.newest() is not None
                    and strip.part.newest().version == strip._version, timeout=5000)
    assert strip.isVisible() and list(strip.views) == ["position 1", "position 2"]
    snapshot = strip.part.newest()
    assert snapshot is not None and snapshot.arrived == 2 and snapshot.combined is not None
    first, second = (inspection for _, inspection in snapshot.views)
    assert isinstance(first.frame, Frame) and isinstance(second.frame, Frame)
    # the newest part's two consecutive frames, each in its own view, side by side
    assert (first.frame.sequence // 2, first.frame.sequence % 2, second.frame.sequence % 2) == \
        (second.frame.sequence // 2, 0, 1)
    assert strip.views["position 1"].caption.startswith(first.frame.key)
    assert strip.views["position 2"].caption.startswith(second.frame.key)
    assert strip.views["position 1"].x() < strip.views["position 2"].x()  # side by side, not stacked
    assert strip.title.text() == f"Part {snapshot.key}: 2 views, part verdict {snapshot.combined.verdict.status}"

    window.set_overlays(False)
    assert not strip.views["position 1"].show_overlays


def test_a_recipe_without_views_has_no_views_strip(qtbot, make_window, station_yaml: Path, tmp_path: Path) -> None:
    window = make_window(load_station_config(station_yaml), tmp_path / "station.db")
    window.start()
    qtbot.waitUntil(lambda: window.state in ("finished", "error"), timeout=120_000)
    assert window.state == "finished" and not window.live_views.isVisible() and window.live_views.part is None
