from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from inspection.domain.types import Box, Detection, Frame, Reason, Verdict, VerdictStatus, polygon_area


def test_frame_owns_a_readonly_copy_of_the_pixels() -> None:
    pixels = np.zeros((4, 5, 3), np.uint8)
    frame = Frame(pixels, "cam0", 7, 1.0)
    pixels[:] = 255  # the driver reuses its buffer
    assert frame.image.max() == 0
    assert not frame.image.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.sequence = 8  # type: ignore[misc]
    assert (frame.width, frame.height, frame.key) == (5, 4, "cam0#7")
    assert Frame(pixels, "cam0", 7, 1.0, part_id="SN123").key == "SN123"


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4), np.float32), "expected dtype uint8"),
        (np.zeros((4, 4, 4), np.uint8), "expected HxW"),
        (np.zeros((0, 4), np.uint8), "non-empty"),
        ([[0, 1]], "numpy array"),
    ],
)
def test_frame_rejects_bad_images(image: object, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Frame(image, "cam0", 0, 0.0)  # type: ignore[arg-type]


def test_box_and_detection_validate_and_measure() -> None:
    with pytest.raises(ValueError, match="x2 >= x1"):
        Box(10, 0, 5, 5)
    with pytest.raises(ValueError, match="confidence"):
        Detection("bridge", 1.5, Box(0, 0, 1, 1))
    d = Detection("bridge", 0.9, Box(0, 0, 10, 4))
    assert d.area_px == 40 and d.length_px == 10
    square = ((0.0, 0.0), (6.0, 0.0), (6.0, 6.0), (0.0, 6.0))
    seg = Detection("void", 0.5, Box(0, 0, 6, 6), polygon=square)
    assert seg.area_px == pytest.approx(36.0) and polygon_area(square) == pytest.approx(36.0)
    assert seg.length_px == pytest.approx(6.0)


def test_non_pass_verdicts_need_a_reason() -> None:
    with pytest.raises(ValueError, match="needs at least one reason"):
        Verdict(VerdictStatus.FAIL)
    verdict = Verdict.error("decode_error", "image could not be decoded")
    assert verdict.failsafe and verdict.status.rejects
    assert Verdict.passed().status is VerdictStatus.PASS and not VerdictStatus.PASS.rejects
    assert Verdict("FAIL", (Reason("defect", "bridge"),)).status is VerdictStatus.FAIL  # type: ignore[arg-type]
