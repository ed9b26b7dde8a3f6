"""SPC from the verdict log: p-chart limits, Pareto, class trends, live counters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, StageTimings, Verdict, VerdictStatus
from inspection.records.spc import LiveCounters, class_trends, p_chart, p_chart_from_counts, pareto
from inspection.records.store import Store


def _inspection(t: float, classes: tuple[str, ...] = (), status: VerdictStatus | None = None,
                seq: int = 0) -> Inspection:
    dets = tuple(Detection(c, 0.9, Box(1, 1, 5, 5)) for c in classes)
    status = status or (VerdictStatus.FAIL if dets else VerdictStatus.PASS)
    verdict = Verdict(status, (Reason("defect", "x"),) if status.rejects else ())
    frame = Frame(np.zeros((8, 8), np.uint8), "cam0", seq, t)
    return Inspection(frame, dets, verdict, dets, StageTimings(latency_ms=10.0 + seq))


def test_p_chart_limits_match_the_textbook_formula() -> None:
    chart = p_chart_from_counts([2, 5, 1, 12], [50, 50, 40, 50])
    pbar = 20 / 190
    assert chart.centre == pytest.approx(pbar)
    assert chart.ucl[2] == pytest.approx(pbar + 3 * math.sqrt(pbar * (1 - pbar) / 40))
    assert chart.lcl[0] == 0.0  # negative lower limit clips to zero
    assert list(chart.out_of_control) == [3]


@pytest.mark.parametrize(("failed", "inspected"), [([1, 2], [10]), ([3], [2]), ([0], [0]), ([-1], [5])])
def test_p_chart_rejects_impossible_counts(failed: list[int], inspected: list[int]) -> None:
    with pytest.raises(ValueError, match="p_chart"):
        p_chart_from_counts(failed, inspected)


def test_spc_from_the_store(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        t0 = 1_700_000_000.0
        for i in range(100):
            classes = ("bridge",) if i % 10 == 0 else ("void", "bridge") if i % 25 == 3 else ()
            if i >= 80:
                classes = ("void",)
            store.record(_inspection(t0 + i * 10.0, classes, seq=i))
        store.record(_inspection(t0 + 1001, status=VerdictStatus.ERROR, seq=100))
        chart = p_chart(store, subgroup_size=20)
        assert list(chart.n) == [20] * 5
        assert chart.p[-1] == 1.0 and 4 in chart.out_of_control
        assert chart.centre == pytest.approx((8 + 4 + 20) / 100)
        bars = pareto(store)
        assert [(b.class_name, b.count) for b in bars] == [("void", 24), ("bridge", 12)]
        assert bars[-1].cumulative_pct == pytest.approx(100.0)
        trends = {t.class_name: t for t in class_trends(store, bucket_s=500.0)}
        assert set(trends) == {"bridge", "void"}
        assert trends["void"].defects_per_part.max() > trends["bridge"].defects_per_part.max()
        assert pareto(store, since_s=t0 + 10_000) == []


def test_live_counters_yield_and_rate() -> None:
    counters = LiveCounters(rate_window_s=60.0)
    assert math.isnan(counters.snapshot(0.0)["yield_pct"])
    for i in range(30):
        status = VerdictStatus.FAIL if i % 3 == 0 else VerdictStatus.PASS
        counters.add(_inspection(0.0, ("bridge",) if status is VerdictStatus.FAIL else (), status, i), now_s=i * 0.5)
    counters.add(_inspection(0.0, status=VerdictStatus.ERROR), now_s=15.0)
    snap = counters.snapshot(now_s=15.0)
    assert (snap["inspected"], snap["pass"], snap["fail"], snap["error"]) == (31, 20, 10, 1)
    assert snap["yield_pct"] == pytest.approx(100 * 20 / 31)
    assert snap["parts_per_min"] == pytest.approx(120.0)
    assert counters.snapshot(now_s=200.0)["parts_per_min"] == 0.0
