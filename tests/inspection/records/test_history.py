"""Verdict-log search for the console's history view (time range, verdict, class, part id) and CSV export."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.records.history import HistoryFilter, detections_of, export_csv, find_inspection, search
from inspection.records.store import Store

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "s.db") as s:
        for i in range(10):
            cls = "bridge" if i in (2, 5) else "void" if i == 7 else None
            dets = (Detection(cls, 0.8, Box(1, 2, 3, 4), polygon=((1, 2), (3, 2), (3, 4))),) if cls else ()
            verdict = Verdict(VerdictStatus.FAIL, (Reason("defect", f"{cls} ×1", cls),)) if cls else Verdict.passed()
            frame = Frame(np.zeros((8, 8), np.uint8), "cam0", i, T0 + 60 * i, part_id=f"BRD-{i:03d}")
            s.record(Inspection(frame, dets, verdict, dets))
        yield s


@pytest.mark.parametrize(("flt", "expected_sequences"), [
    (HistoryFilter(), list(range(9, -1, -1))),
    (HistoryFilter(verdict=VerdictStatus.FAIL), [7, 5, 2]),
    (HistoryFilter(class_name="bridge"), [5, 2]),
    (HistoryFilter(since_s=T0 + 120, until_s=T0 + 300), [5, 4, 3, 2]),
    (HistoryFilter(part="brd-00"), list(range(9, -1, -1))),
    (HistoryFilter(part="BRD-007"), [7]),
    (HistoryFilter(class_name="void", verdict=VerdictStatus.PASS), []),
])
def test_search_filters(store: Store, flt: HistoryFilter, expected_sequences: list[int]) -> None:
    assert [r["sequence"] for r in search(store, flt)] == expected_sequences


def test_bad_time_range_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="before its start"):
        search(store, HistoryFilter(since_s=T0 + 100, until_s=T0))


def test_rows_detections_lookup_and_export(store: Store, tmp_path: Path) -> None:
    row = search(store, HistoryFilter(part="BRD-005"))[0]
    assert row["reasons"][0]["class_name"] == "bridge" and row["override"] is None
    dets = detections_of(store, row["id"])
    assert dets[0]["class_name"] == "bridge" and dets[0]["polygon"] == [(1.0, 2.0), (3.0, 2.0), (3.0, 4.0)]
    assert find_inspection(store, "BRD-005", T0 + 300) == row["id"]
    assert find_inspection(store, "BRD-005", T0 + 301) is None
    out = tmp_path / "fails.csv"
    assert export_csv(store, out, HistoryFilter(verdict=VerdictStatus.FAIL)) == 3
    with open(out, encoding="utf-8") as handle:
        assert [r["part_id"] for r in csv.DictReader(handle)] == ["BRD-002", "BRD-005", "BRD-007"]
