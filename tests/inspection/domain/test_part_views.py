"""The newest multi-view part for the live display: grouped like the PLC's result, a late view of the
previous part lands in its own part, the combined verdict appears once every view is there."""

from __future__ import annotations

import time

import numpy as np

from inspection.domain.multiview import ViewsConfig
from inspection.domain.part_views import NewestPart
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus


def view(camera: str, seq: int, status: VerdictStatus = VerdictStatus.PASS, part_id: str | None = None) -> Inspection:
    frame = Frame(np.zeros((4, 4), np.uint8), camera, seq, time.time(), part_id=part_id)
    if status is VerdictStatus.PASS:
        return Inspection(frame, (), Verdict.passed())
    d = Detection("scratch", 0.9, Box(0, 0, 2, 2), 0)
    return Inspection(frame, (d,), Verdict(status, (Reason("defect", "scratch ×1", "scratch"),)), (d,))


def test_cameras_newest_part_and_a_late_view_of_the_previous_part() -> None:
    newest = NewestPart(ViewsConfig(cameras=["top", "bottom"]))
    assert newest.newest() is None
    newest.add(view("top", 1))
    newest.add(view("top", 2))  # the next trigger began before part 1's bottom view arrived
    newest.add(view("bottom", 1, VerdictStatus.FAIL))  # late, but it belongs to part 1: not shown as part 2
    newest.add(view("side", 2))  # not one of the part's views
    snap = newest.newest()
    assert snap is not None and snap.key == "#2" and snap.arrived == 1 and snap.combined is None
    assert [name for name, v in snap.views if v is not None] == ["top"]
    newest.add(view("bottom", 2, VerdictStatus.FAIL))
    snap = newest.newest()
    assert snap is not None and snap.arrived == 2 and snap.combined is not None
    assert snap.combined.verdict.status is VerdictStatus.FAIL and "[bottom]" in snap.combined.verdict.summary
    assert [v.frame.camera_id for _, v in snap.views if v is not None] == ["top", "bottom"]


def test_positions_by_sequence_and_by_part_id() -> None:
    newest = NewestPart(ViewsConfig(positions=3))
    for seq in range(5):
        newest.add(view("cam0", seq))
    snap = newest.newest()
    assert snap is not None and snap.key == "#1" and [n for n, v in snap.views if v is not None] == \
        ["position 1", "position 2"]
    before = snap.version
    for _ in range(3):
        newest.add(view("cam0", 99, part_id="P-7"))
    snap = newest.newest()
    assert snap is not None and snap.key == "P-7" and snap.arrived == 3 and snap.version == before + 3
