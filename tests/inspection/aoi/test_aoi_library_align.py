"""Package library validation, fiducial alignment and feature registration on rendered boards."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.aoi.align import BoardTransform, align_by_fiducials, estimate_transform, register_images
from inspection.aoi.library import load_library
from inspection.aoi.placement import parse_placements
from inspection.aoi.synthetic import render_board
from inspection.errors import ConfigError, DataError

SIZE = (880, 560)


def test_library_resolves_every_demo_part(demo_placements, demo_library) -> None:
    packages = demo_library.resolve(demo_placements)
    assert set(packages) == {p.refdes for p in demo_placements}
    assert len(demo_library.fiducials(demo_placements)) == 3
    assert demo_library.find("r_0805_2012metric")[0] == "R0805"  # aliases, case-insensitive


def test_package_missing_from_library_names_refdes_and_line(demo_library) -> None:
    board = parse_placements("RefDes,X,Y,Rotation,Package\nR1,1,2,0,R0805\nQ7,5,5,0,SOT23\n", "board.csv")
    with pytest.raises(ConfigError, match=r"(?s)board.csv: line 3: Q7 uses package 'SOT23'.*add the package"):
        demo_library.resolve(board)


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("packages:\n  R1:\n    checks: [joints]\n    body: {width: 1, height: 1}\n", "needs pads"),
    ("packages:\n  R1:\n    pads: [{pin: '1', x: 0, y: 0, width: 1, height: 1}]\n", "need a body"),
    ("packages:\n  R1:\n    body: {width: 1, height: 1, colour: red}\n", "body.colour: unknown key"),
    ("packages:\n  R1:\n    body: {width: 1, height: 1, gray: [200, 10]}\n", "low <= high"),
])
def test_bad_library_entries_are_config_errors(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "lib.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=expected):
        load_library(path)


def test_similarity_from_three_points_recovers_a_known_transform() -> None:
    truth = BoardTransform.nominal(20.0, (100.0, 700.0)).then(
        np.array([[np.cos(0.05), -np.sin(0.05), 3.0], [np.sin(0.05), np.cos(0.05), -2.0]]))
    board = np.array([[0.0, 0.0], [40.0, 25.0], [40.0, 0.0]])
    fitted = estimate_transform(board, truth.apply(board), "similarity")
    assert np.allclose(fitted.matrix, truth.matrix, atol=1e-9)
    affine = estimate_transform(board, truth.apply(board), "affine")
    assert np.allclose(affine.matrix, truth.matrix, atol=1e-9)


def test_fiducials_found_on_a_moved_board_with_small_residual(demo_placements, demo_library, nominal, move) -> None:
    truth = move(nominal, 7.0, -5.0, 0.8)
    image = render_board(demo_placements, demo_library, truth, SIZE, seed=4)
    alignment = align_by_fiducials(image, demo_library.fiducials(demo_placements), nominal)
    assert alignment.residual_px < 1.0
    probe = np.array([[10.0, 22.0], [38.0, 11.0]])
    assert np.abs(alignment.transform.apply(probe) - truth.apply(probe)).max() < 1.0
    assert alignment.transform.rotation_deg == pytest.approx(0.8, abs=0.2)
    assert "residual" in alignment.summary()


def test_fiducials_not_found_names_the_fiducial(demo_placements, demo_library, nominal) -> None:
    blank = np.full((SIZE[1], SIZE[0], 3), 60, np.uint8)
    with pytest.raises(DataError, match=r"fiducial FID1 \(line 2\).*not found"):
        align_by_fiducials(blank, demo_library.fiducials(demo_placements), nominal)


def test_fiducial_search_window_outside_the_image(demo_placements, demo_library) -> None:
    far = BoardTransform.nominal(16.0, (5000.0, 5000.0))
    image = np.zeros((SIZE[1], SIZE[0]), np.uint8)
    with pytest.raises(DataError, match="outside the 880x560 image"):
        align_by_fiducials(image, demo_library.fiducials(demo_placements), far)


@pytest.mark.parametrize("method", ["orb", "ecc", "orb+ecc"])
def test_feature_registration_recovers_a_shift(demo_placements, demo_library, nominal, move, method: str) -> None:
    reference = render_board(demo_placements, demo_library, nominal, SIZE, seed=1)
    shifted = render_board(demo_placements, demo_library, move(nominal, 4.0, -3.0, 0.3), SIZE, seed=2)
    registration = register_images(shifted, reference, method)
    point = np.array([[400.0, 300.0]])
    back = point @ registration.matrix[:, :2].T + registration.matrix[:, 2]
    truth_to_moved = move(nominal, 4.0, -3.0, 0.3).matrix @ np.vstack(
        [np.linalg.inv(np.vstack([nominal.matrix, [0, 0, 1]]))[:2], [0, 0, 1]])
    expected = cv2.invertAffineTransform(truth_to_moved)
    assert np.abs(back - (point @ expected[:, :2].T + expected[:, 2])).max() < 1.0
    assert method in registration.summary()


def test_feature_registration_of_a_blank_image_fails_clearly(demo_placements, demo_library, nominal) -> None:
    reference = render_board(demo_placements, demo_library, nominal, SIZE, seed=1)
    with pytest.raises(DataError, match="too few ORB keypoints"):
        register_images(np.full_like(reference, 70), reference, "orb")
    with pytest.raises(DataError, match="same camera and resolution"):
        register_images(reference[:100], reference, "orb")
