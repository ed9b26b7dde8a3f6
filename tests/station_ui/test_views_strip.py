"""History: the views of one part side by side (real widgets offscreen, a real SQLite store)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.records.store import ImageArchive, Store

pytestmark = pytest.mark.ui


def test_a_part_seen_by_two_cameras_shows_both_views(qtbot, tmp_path: Path) -> None:
    from station_ui.views_strip import ViewsStrip

    t = time.time()
    with Store(tmp_path / "s.db", ImageArchive(tmp_path / "images", keep="all")) as store:
        top = store.record(Inspection(Frame(np.zeros((16, 16, 3), np.uint8), "top", 4, t), (), Verdict.passed()))
        d = Detection("scratch", 0.9, Box(1, 1, 5, 5), 0)
        store.record(Inspection(Frame(np.full((16, 16, 3), 80, np.uint8), "bottom", 4, t + 0.01), (d,),
                                Verdict(VerdictStatus.FAIL, (Reason("defect", "scratch ×1", "scratch"),)), (d,)))
        alone = store.record(Inspection(Frame(np.zeros((16, 16, 3), np.uint8), "top", 5, t + 1), (), Verdict.passed()))
        strip = ViewsStrip()
        qtbot.addWidget(strip)
        assert strip.show_part(store, top) == 2
        assert not strip.isHidden() and [v.title for v in strip.views] == ["bottom: FAIL", "top: PASS"]
        assert strip.show_part(store, alone) == 1 and strip.isHidden() and strip.views == []
