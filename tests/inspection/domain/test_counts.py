"""One pass/fail counter rule: every counter agrees, on an empty run too."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspection.domain.counts import yield_pct, zero_counts
from inspection.domain.types import Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.records.spc import LiveCounters
from inspection.runtime.stats import RunSummary
from inspection.telemetry import TelemetryState


def _part(seq: int, status: VerdictStatus) -> Inspection:
    frame = Frame(np.zeros((4, 4, 3), np.uint8), "cam0", seq, 1_700_000_000.0 + seq)
    verdict = Verdict.passed() if status is VerdictStatus.PASS else Verdict(status, (Reason("defect", "x"),))
    return Inspection(frame, (), verdict)


def test_the_rule() -> None:
    assert zero_counts() == {"PASS": 0, "FAIL": 0, "ERROR": 0, "REVIEW": 0}
    assert yield_pct(zero_counts()) is None
    assert yield_pct({"PASS": 3, "FAIL": 1, "ERROR": 0, "REVIEW": 0}) == pytest.approx(75.0)


@pytest.mark.parametrize("statuses", [[], [VerdictStatus.PASS, VerdictStatus.FAIL, VerdictStatus.PASS,
                                           VerdictStatus.ERROR]])
def test_run_summary_spc_and_telemetry_agree(statuses: list[VerdictStatus]) -> None:
    summary, live, telemetry = RunSummary(), LiveCounters(), TelemetryState(("x",))
    for i, status in enumerate(statuses):
        part = _part(i, status)
        summary.add(part)
        live.add(part)
        telemetry.update(part)
    expected = yield_pct(summary.counts)
    snapshot = live.snapshot()["yield_pct"]
    payload = telemetry.counts_payload()["yield_pct"]
    if expected is None:  # an empty run has no yield: None where the channel allows it, NaN where it needs a number
        assert summary.as_dict()["yield_pct"] is None and payload is None and math.isnan(snapshot)
        assert telemetry.yield_pct is None
    else:
        assert expected == pytest.approx(50.0)
        assert summary.as_dict()["yield_pct"] == pytest.approx(expected)
        assert snapshot == pytest.approx(expected) and payload == pytest.approx(expected)
