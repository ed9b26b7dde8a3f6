"""The live view draws labels where inspection.domain.label_layout puts them: none over another."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.domain.label_layout import overlap_area
from station_ui.widgets import FrameView, Overlay

pytestmark = pytest.mark.ui


def test_touching_detections_get_separate_readable_labels(qtbot) -> None:
    view = FrameView("cam0")
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    overlays = [Overlay("excess 0.38", (100, 100, 140, 130), None, True, "excess"),
                Overlay("insufficient 0.12", (100, 72, 160, 100), None, False, "insufficient"),
                Overlay("bridge 0.91", (138, 100, 180, 140), [(140, 102), (178, 102), (170, 138)], True, "bridge")]
    view.set_image(np.full((240, 320, 3), 90, np.uint8), overlays, "cam0#1")
    view.grab()  # paints
    rects = view.label_rects
    assert len(rects) == 3 and all(r[2] > 0 for r in rects)
    for i in range(3):
        for j in range(i + 1, 3):
            assert overlap_area(rects[i], rects[j]) == 0, (rects[i], rects[j])
    assert all(r[0] >= 0 and r[0] + r[2] <= view.width() and r[1] >= 0 and r[1] + r[3] <= view.height()
               for r in rects)
