"""One part, several views: the PLC gets one result per part, the worst view wins, a missing or late view
is a fail-safe reject with its reason; a real Station with two replay cameras groups its views."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from inspection.config import load_station_config
from inspection.domain.multiview import MultiViewOutput, ViewsConfig
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.outputs.none import NoOutput
from inspection.records.history import part_views
from inspection.records.store import Store
from inspection.runtime.pipeline import Station


class Recording(NoOutput):
    """The `none` output that also keeps what it was given (what a PLC would have received)."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[Inspection] = []

    def publish(self, inspection: Inspection) -> None:
        super().publish(inspection)
        self.results.append(inspection)


def view(camera: str, seq: int, status: VerdictStatus = VerdictStatus.PASS, part_id: str | None = None) -> Inspection:
    frame = Frame(np.zeros((4, 4), np.uint8), camera, seq, time.time(), part_id=part_id)
    if status is VerdictStatus.PASS:
        return Inspection(frame, (), Verdict.passed())
    d = Detection("scratch", 0.9, Box(0, 0, 2, 2), 0)
    return Inspection(frame, (d,), Verdict(status, (Reason("defect", "scratch ×1", "scratch"),)), (d,))


def wait_for(check, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not check():
        time.sleep(0.01)
    assert check()


def test_the_worst_view_wins_and_the_plc_gets_one_result() -> None:
    plc = Recording()
    out = MultiViewOutput(plc, ViewsConfig(cameras=["top", "bottom"]))
    out.open()
    try:
        out.publish(view("top", 1, part_id="P1"))
        assert plc.results == []  # waits for the other view
        out.publish(view("bottom", 1, VerdictStatus.FAIL, part_id="P1"))
        (result,) = plc.results
        assert result.verdict.status is VerdictStatus.FAIL and result.frame.part_id == "P1"
        assert result.verdict.reasons[0].message == "[bottom] scratch ×1"
        assert result.defects[0].attributes["view"] == "bottom"
        out.publish(view("bottom", 2))
        out.publish(view("top", 2))  # no part id: the trigger's sequence groups them
        assert [r.verdict.status for r in plc.results] == [VerdictStatus.FAIL, VerdictStatus.PASS]
    finally:
        out.close()


def test_a_missing_view_is_a_failsafe_reject_and_a_late_one_is_not_published() -> None:
    plc = Recording()
    out = MultiViewOutput(plc, ViewsConfig(cameras=["top", "side", "bottom"], timeout_ms=100))
    out.open()
    try:
        out.publish(view("top", 7))
        out.publish(view("side", 7))
        wait_for(lambda: len(plc.results) == 1)
        (result,) = plc.results
        assert result.verdict.status is VerdictStatus.ERROR and result.verdict.failsafe
        assert [r.code for r in result.verdict.reasons] == ["view_missing"]
        assert "view bottom did not arrive within 100 ms" in result.verdict.reasons[0].message
        out.publish(view("bottom", 7))  # too late: the part was decided
        assert out.late_views == 1 and len(plc.results) == 1 and out.missing_parts == 1
    finally:
        out.close()


def test_one_camera_at_n_positions_and_close_decides_what_waits() -> None:
    plc = Recording()
    out = MultiViewOutput(plc, ViewsConfig(positions=3, timeout_ms=10_000))
    out.open()
    for seq in range(3):
        out.publish(view("cam0", seq, VerdictStatus.REVIEW if seq == 1 else VerdictStatus.PASS))
    out.publish(view("cam0", 3))
    assert [r.verdict.status for r in plc.results] == [VerdictStatus.REVIEW]
    out.close()  # the part of frame 3 still waits for 2 views: decided fail-safe, not dropped
    assert [r.verdict.status for r in plc.results] == [VerdictStatus.REVIEW, VerdictStatus.ERROR]


@pytest.mark.parametrize("bad", [{}, {"cameras": ["a"]}, {"cameras": ["a", "a"]}, {"cameras": ["a", "b"],
                                                                                     "positions": 2}])
def test_views_config_says_what_is_wrong(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ViewsConfig.model_validate(bad)


def test_a_station_with_two_cameras_sends_one_result_per_part(tmp_path: Path, parts_dir: Path,
                                                             tiny_model: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(
        f"name: two-sides\nmodel: {tiny_model}\ndeadline_ms: 60000\n"
        "views:\n  cameras: [top, bottom]\n  timeout_ms: 30000\n", encoding="utf-8")
    (tmp_path / "station.yaml").write_text(
        f"name: mv\ndata_dir: {tmp_path / 'data'}\nrecipe: recipe.yaml\n"
        f"cameras:\n  - {{kind: replay, id: top, path: {parts_dir}}}\n"
        f"  - {{kind: replay, id: bottom, path: {parts_dir}}}\n"
        "detector: {kind: ultralytics, device: cpu, imgsz: 96}\noutput: {kind: none}\n", encoding="utf-8")
    config = load_station_config(tmp_path / "station.yaml")
    with Station(config) as station:
        assert isinstance(station.output, MultiViewOutput)
        station.run()
        assert station.store is not None
        rows = list(station.store.inspections())
        output = station.output
        assert output.inner.published == 6 and output.missing_parts == 0 and output.late_views == 0
    assert {r["camera_id"] for r in rows} == {"top", "bottom"} and len(rows) == 12  # every view is logged
    assert len({r["sequence"] for r in rows}) == 6
    with Store(config.db_path) as store:  # the history finds a part's views side by side
        views = part_views(store, rows[0]["id"])
        assert [v["camera_id"] for v in views] == ["bottom", "top"]
        assert len({v["sequence"] for v in views}) == 1
