"""Golden-board comparison: tolerant to lighting and small misregistration, finds real differences."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspection.aoi.golden import GoldenOptions, compare_to_golden, confirm_with_golden, difference_map
from inspection.aoi.synthetic import BoardDefect, render_board
from inspection.domain.types import Box, Detection
from inspection.errors import DataError

SIZE = (880, 560)


@pytest.fixture(scope="module")
def reference(demo_placements, demo_library, nominal) -> np.ndarray:
    return render_board(demo_placements, demo_library, nominal, SIZE, seed=1)


def test_other_lighting_and_two_pixels_of_shift_are_not_differences(demo_placements, demo_library, nominal, move,
                                                                    reference) -> None:
    test = render_board(demo_placements, demo_library, move(nominal, 2.0, -2.0, 0.0), SIZE, gain=0.6, seed=7)
    assert compare_to_golden(test, reference).detections == ()
    # Each tolerance matters: without lighting normalisation the dimmer pads differ, without the
    # tolerance window the shifted edges do.
    assert len(compare_to_golden(test, reference, GoldenOptions(normalize_lighting=False)).detections) > 5
    assert len(compare_to_golden(test, reference, GoldenOptions(tolerance_px=0)).detections) > 5


def test_a_solder_bridge_is_found_where_it_is(demo_placements, demo_library, nominal, reference) -> None:
    test = render_board(demo_placements, demo_library, nominal, SIZE, {"U1": BoardDefect("bridge")}, seed=2)
    found = compare_to_golden(test, reference).detections
    assert len(found) == 1
    d = found[0]
    assert d.source == "golden" and d.class_name == "difference" and d.attributes["polarity"] == "extra"
    # U1 pins 1-2 sit at board (36.1..37.4, 8.3) mm → image x ≈ 617..638, y ≈ 387.
    assert 600 < d.box.center[0] < 650 and 375 < d.box.center[1] < 400


def test_missing_part_is_found_after_orb_registration(demo_placements, demo_library, nominal, move,
                                                      reference) -> None:
    test = render_board(demo_placements, demo_library, move(nominal, 9.0, 6.0, 0.5), SIZE,
                        {"R1": BoardDefect("missing")}, seed=3)
    assert len(compare_to_golden(test, reference).detections) > 3  # unaligned: edges everywhere
    result = compare_to_golden(test, reference, GoldenOptions(registration="orb+ecc"))
    assert result.registration is not None
    centres = [d.box.center for d in result.detections]
    assert centres, "the missing R1 must show"
    # R1 at board (10, 22) mm → nominal image (200, 168), then moved by ≈ (+9, +6) px into the test image.
    assert all(abs(x - 209) < 25 and abs(y - 175) < 20 for x, y in centres)


def test_reference_of_another_size_is_a_clear_error(reference) -> None:
    with pytest.raises(DataError, match=r"reference image is 880x560 px but the frame is 640x480 px"):
        compare_to_golden(np.zeros((480, 640, 3), np.uint8), reference)


def test_difference_map_is_symmetric_in_what_it_catches() -> None:
    ref = np.full((40, 40), 50, np.uint8)
    cv2.rectangle(ref, (10, 10), (30, 30), 200, -1)
    extra, missing = ref.copy(), ref.copy()
    cv2.circle(extra, (5, 5), 3, 200, -1)  # copper where there should be none
    cv2.circle(missing, (20, 20), 3, 50, -1)  # a hole in the copper
    options = GoldenOptions(normalize_lighting=False, blur_sigma_px=0)
    assert difference_map(extra, ref, options)[5, 5] > 100
    assert difference_map(missing, ref, options)[20, 20] > 100
    assert difference_map(ref, ref, options).max() == 0


def test_confirm_marks_detector_findings_a_golden_region_overlaps() -> None:
    a = Detection("short", 0.9, Box(10, 10, 20, 20))
    b = Detection("open", 0.8, Box(100, 100, 110, 110))
    golden = (Detection("difference", 0.7, Box(18, 18, 30, 30), source="golden"),)
    marked = confirm_with_golden((a, b), golden)
    assert [d.attributes["golden"] for d in marked] == ["confirmed", "unconfirmed"]


@pytest.mark.realdata
def test_deeppcb_defects_are_found_by_reference_comparison(shared_data) -> None:
    """Three real template/test pairs: most labelled defects lie under a difference region."""
    root = shared_data / "deeppcb" / "PCBData" / "group00041"
    if not root.is_dir():
        pytest.skip(f"{root} absent: DeepPCB is needed")
    options = GoldenOptions(registration="ecc", tolerance_px=3, threshold=40, close_px=5)
    found = total = 0
    for stem in ("00041000", "00041001", "00041002"):
        test = cv2.imread(str(root / "00041" / f"{stem}_test.jpg"), cv2.IMREAD_GRAYSCALE)
        temp = cv2.imread(str(root / "00041" / f"{stem}_temp.jpg"), cv2.IMREAD_GRAYSCALE)
        boxes = [[float(v) for v in line.replace(",", " ").split()[:4]]
                 for line in (root / "00041_not" / f"{stem}.txt").read_text().splitlines() if line.strip()]
        regions = compare_to_golden(test, temp, options).detections
        for x1, y1, x2, y2 in boxes:
            total += 1
            found += any((x1 <= d.box.center[0] <= x2 and y1 <= d.box.center[1] <= y2)
                         or (d.box.x1 <= (x1 + x2) / 2 <= d.box.x2 and d.box.y1 <= (y1 + y2) / 2 <= d.box.y2)
                         for d in regions)
    assert total >= 9
    assert found / total >= 0.8
