"""The SPC tab: limits frozen from a baseline, rules drawn on the points, clock time axes, PNG/CSV export."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.domain.permissions import Role, User
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, StageTimings, Verdict, VerdictStatus
from inspection.records.spc_rules import active_limits
from inspection.records.store import Store
from station_ui.spc_view import SpcView

pytestmark = pytest.mark.ui


def _record(store: Store, t: float, defects: int, seq: int) -> None:
    dets = tuple(Detection("void", 0.9, Box(1, 1, 5, 5)) for _ in range(defects))
    verdict = Verdict(VerdictStatus.FAIL if dets else VerdictStatus.PASS, (Reason("defect", "x"),) if dets else ())
    store.record(Inspection(Frame(np.zeros((8, 8), np.uint8), "cam0", seq, t), dets, verdict, dets,
                            StageTimings(latency_ms=10.0)))


def test_frozen_limits_catch_the_drift_and_the_chart_exports(qtbot, tmp_path: Path) -> None:
    t0 = time.time() - 3600
    with Store(tmp_path / "s.db") as store:
        for seq in range(200):  # baseline: 1 failed part in 20
            _record(store, t0 + seq * 5, 1 if seq % 20 == 0 else 0, seq)
        view = SpcView(user=lambda: User("qe", Role.ENGINEER))
        qtbot.addWidget(view)
        view.resize(1200, 800)
        view.show()
        view.set_store(store)
        view.span.setCurrentIndex(view.span.findData("all"))
        view.subgroup.setValue(20)
        view.freeze_button.click()
        limits = active_limits(store, "p")
        assert limits is not None and limits.centre == pytest.approx(0.05) and limits.frozen_by == "qe"
        for seq in range(200, 300):  # the process drifts: 6 in 20
            _record(store, t0 + seq * 5, 1 if seq % 20 < 6 else 0, seq)
        view.refresh()
        chart = view.control
        assert chart is not None and chart.centre == pytest.approx(0.05)
        assert all(1 in chart.rules_at(i) for i in range(10, 15))
        assert len(view.rule_labels) >= 5 and view.rule_labels[-1].toPlainText().startswith("1")
        assert "limits frozen" in view.message.text() and "5 subgroup(s) out of control" in view.message.text()
        view.use_frozen.setChecked(False)  # limits from the data shown: the drift moves its own limits
        assert view.control.centre == pytest.approx(40 / 300) and "not frozen" in view.message.text()
        view.use_frozen.setChecked(True)
        view.kind.setCurrentIndex(view.kind.findData("u"))
        assert view.control.kind == "u" and view.control.limits is None  # no u limits frozen yet
        view.kind.setCurrentIndex(view.kind.findData("p"))
        png = view.export_png(tmp_path / "p.png")
        csv_path = view.export_csv(tmp_path / "p.csv")
    image = cv2.imread(str(png))
    assert image is not None and image.shape[1] >= 800
    lines = csv_path.read_text().splitlines()
    assert len(lines) == 16 and lines[0].startswith("start_utc,n,p,centre")


def test_time_axis_reads_as_clock_times() -> None:
    from station_ui.spc_view import TimeAxis

    axis = TimeAxis()
    t = time.mktime((2026, 12, 6, 14, 58, 1, 0, 0, -1))
    assert axis.tickStrings([t, t + 1], 1.0, 1.0) == ["14:58:01", "14:58:02"]
    assert axis.tickStrings([t], 1.0, 600.0) == ["14:58"]
