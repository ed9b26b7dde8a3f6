"""Phase I limits frozen from a baseline, the eight Nelson rules, p- and u-charts, CSV export."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from inspection.domain.permissions import AccessDenied, Role, User
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, StageTimings, Verdict, VerdictStatus
from inspection.errors import StoreError
from inspection.people.spc_baseline import freeze_limits
from inspection.records.spc_rules import active_limits, attribute_chart, chart_csv, nelson_rules, subgroups
from inspection.records.store import Store

QE = User("qe", Role.ENGINEER)
ALTERNATING_SMALL = [0.2, 0.4, 0.3, -0.2, -0.5, -0.4, 0.1, 0.3, 0.2, -0.1, -0.3, -0.2, 0.1, 0.2, 0.1]


@pytest.mark.parametrize(("z", "expected"), [
    ([0, 0, 3.5], {(2, 1)}),
    ([0.5] * 9, {(8, 2)}),
    ([0, 0.1, 0.2, 0.3, 0.4, 0.5], {(5, 3)}),
    ([0.5, -0.5] * 7, {(13, 4)}),
    ([2.5, 0, 2.5], {(2, 5)}),
    ([1.5, 1.5, 0, 1.5, 1.5], {(4, 6)}),
    (ALTERNATING_SMALL, {(14, 7)}),
    ([1.5, -1.5, 1.5, 1.5, -1.5, -1.5, 1.5, -1.5], {(7, 8)}),
    ([0.5, -0.5, 2.5, -1.2, 0.3, 0.9, -0.4], set()),
])
def test_each_nelson_rule_fires_on_its_own_pattern(z: list[float], expected: set[tuple[int, int]]) -> None:
    assert {(v.index, v.rule) for v in nelson_rules(z)} == expected


def test_a_chart_marks_the_rule_on_the_point() -> None:
    n = np.full(12, 50.0)
    failed = np.array([2, 3, 2, 1, 2, 3, 2, 2, 3, 2, 2, 20], dtype=float)
    chart = attribute_chart("p", failed, n, np.arange(12.0))
    assert chart.rules_at(11) == [1] and chart.rules_at(0) == []
    pbar = failed.sum() / n.sum()
    assert chart.ucl[0] == pytest.approx(pbar + 3 * math.sqrt(pbar * (1 - pbar) / 50))
    u = attribute_chart("u", np.array([4.0, 6, 5]), np.array([10.0, 10, 20]), np.arange(3.0))
    assert u.centre == pytest.approx(15 / 40) and u.sigma[2] == pytest.approx(math.sqrt(15 / 40 / 20))


def _inspection(t: float, defects: int, seq: int) -> Inspection:
    dets = tuple(Detection("void", 0.9, Box(1, 1, 5, 5)) for _ in range(defects))
    status = VerdictStatus.FAIL if dets else VerdictStatus.PASS
    verdict = Verdict(status, (Reason("defect", "x"),) if dets else ())
    return Inspection(Frame(np.zeros((8, 8), np.uint8), "cam0", seq, t), dets, verdict, dets,
                      StageTimings(latency_ms=10.0))


def test_frozen_limits_do_not_follow_a_drifting_process(tmp_path: Path) -> None:
    t0 = 1_700_000_000.0
    with Store(tmp_path / "s.db") as store:
        # baseline: 10 subgroups of 20 parts with 1 failure each (p = 0.05); then drift to 5 per subgroup
        seq = 0
        for g in range(20):
            for k in range(20):
                fails = (1 if k == 0 else 0) if g < 10 else (1 if k < 5 else 0)
                store.record(_inspection(t0 + seq, 2 * fails, seq))
                seq += 1
        baseline_end = t0 + 199
        with pytest.raises(AccessDenied, match="log in as: engineer"):
            freeze_limits(store, "p", t0, baseline_end, subgroup_size=20, user=User("op", Role.OPERATOR))
        limits = freeze_limits(store, "p", t0, baseline_end, subgroup_size=20, user=QE, now_s=t0 + 500)
        audit = store.query("select username, action, allowed from audit order by id")
        assert [(a["username"], a["allowed"]) for a in audit] == [("op", 0), ("qe", 1)]
        assert limits.centre == pytest.approx(0.05) and limits.subgroups == 10 and limits.parts == 200
        assert active_limits(store, "p") == limits and active_limits(store, "u") is None
        counts, n, starts = subgroups(store, "p", 20)
        frozen = attribute_chart("p", counts, n, starts, limits)
        drifting = attribute_chart("p", counts, n, starts)  # limits from the window shown
        assert frozen.centre == pytest.approx(0.05) and drifting.centre == pytest.approx(0.15)
        assert all(1 in frozen.rules_at(i) for i in range(10, 20))  # every drifted subgroup beyond 3σ
        assert not any(1 in drifting.rules_at(i) for i in range(20))  # the moving limits hide it
        u_counts, _, _ = subgroups(store, "u", 20)
        assert u_counts[0] == 2 and u_counts[-1] == 10
        with pytest.raises(StoreError, match="at least 5"):
            freeze_limits(store, "u", t0, t0 + 50, subgroup_size=20, user=QE)
        out = chart_csv(frozen, tmp_path / "p.csv")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 20 and rows[0]["start_utc"] == "2023-11-14T22:13:20Z"
    assert rows[-1]["rules"].split()[0] == "1" and rows[0]["limits"].startswith("frozen ")


def test_phase_one_leaves_out_assignable_causes(tmp_path: Path) -> None:
    t0 = 1_700_000_000.0
    with Store(tmp_path / "s.db") as store:
        seq = 0
        for g in range(10):
            for k in range(20):
                store.record(_inspection(t0 + seq, 1 if (k == 0 or (g == 4 and k < 15)) else 0, seq))
                seq += 1
        limits = freeze_limits(store, "p", t0, t0 + 10_000, subgroup_size=20, user=QE)
    assert limits.excluded == 1 and limits.centre == pytest.approx(0.05)
