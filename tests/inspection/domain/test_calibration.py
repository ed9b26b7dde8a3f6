"""Calibration against synthetic target views rendered by a known camera with known distortion."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.domain.calibration import (
    CalibrationError,
    TargetSpec,
    calibrate,
    calibration_files,
    latest_calibration,
    save_calibration,
)
from inspection.simulation.synthetic.target import TargetCamera, render_views

CAMERA = TargetCamera()
DISTANCE_MM = 300.0
TRUE_MM_PER_PX = DISTANCE_MM / CAMERA.focal_px  # the plane view is fronto-parallel, centred on the axis

CHESSBOARD = TargetSpec("chessboard", 10, 7, 12.0)
CHARUCO = TargetSpec("charuco", 10, 7, 12.0, marker_mm=9.0)


@pytest.fixture(scope="module")
def chessboard_views() -> list[np.ndarray]:
    return render_views(CHESSBOARD, CAMERA, DISTANCE_MM)


@pytest.mark.parametrize("spec", [CHESSBOARD, CHARUCO], ids=["chessboard", "charuco"])
def test_recovers_scale_intrinsics_and_low_reprojection_error(spec: TargetSpec, chessboard_views) -> None:
    views = chessboard_views if spec is CHESSBOARD else render_views(spec, CAMERA, DISTANCE_MM)
    result = calibrate(views, spec, "cam0")
    assert result.views == len(views)
    assert result.mm_per_px == pytest.approx(TRUE_MM_PER_PX, rel=0.005)
    assert result.reprojection_error_px < 0.25
    assert result.camera_matrix[0, 0] == pytest.approx(CAMERA.focal_px, rel=0.01)
    assert result.camera_matrix[0, 2] == pytest.approx(CAMERA.width / 2, abs=5)
    assert result.dist_coeffs[0] == pytest.approx(CAMERA.dist[0], abs=0.02)


def test_plane_mapping_measures_true_distances_after_undistortion(chessboard_views) -> None:
    result = calibrate(chessboard_views, CHESSBOARD, "cam0")
    hit = cv2.findChessboardCornersSB(chessboard_views[0], (9, 6))[1].reshape(-1, 2)
    mm = result.to_plane_mm(hit)
    # Corners along a row are one square apart on the target; far from the centre distortion bends them.
    steps = np.linalg.norm(np.diff(mm.reshape(6, 9, 2), axis=1), axis=2)
    assert np.abs(steps - CHESSBOARD.square_mm).max() < 0.05
    raw_steps = np.linalg.norm(np.diff(hit.reshape(6, 9, 2), axis=1), axis=2) * result.mm_per_px
    assert np.abs(raw_steps - CHESSBOARD.square_mm).max() > 0.1  # the undistortion is what made it right


def test_too_few_views_or_no_target_is_a_clear_error(chessboard_views) -> None:
    with pytest.raises(CalibrationError, match="at least 3 views"):
        calibrate(chessboard_views[:2], CHESSBOARD, "cam0")
    blank = [np.full((480, 640), 128, np.uint8), *chessboard_views]
    with pytest.raises(CalibrationError, match="plane view"):
        calibrate(blank, CHESSBOARD, "cam0", names=["blank.png"] + [f"v{i}" for i in range(7)])
    with pytest.raises(ValueError, match="marker_mm"):
        TargetSpec("charuco", 5, 5, 10.0)


def test_versioned_files_never_overwritten_and_latest_wins(chessboard_views, tmp_path: Path) -> None:
    first = calibrate(chessboard_views, CHESSBOARD, "cam0", now=datetime(2026, 1, 1, tzinfo=UTC))
    again = calibrate(chessboard_views, CHESSBOARD, "cam0", now=datetime(2026, 1, 1, tzinfo=UTC))
    later = calibrate(chessboard_views[1:] + chessboard_views[:1], CHESSBOARD, "cam0",
                      plane_view=6, now=datetime(2026, 2, 1, tzinfo=UTC))
    paths = [save_calibration(c, tmp_path) for c in (first, again, later)]
    assert len(set(paths)) == 3 and calibration_files(tmp_path, "cam0") == paths
    loaded = latest_calibration(tmp_path, "cam0")
    assert loaded is not None and loaded.path == paths[-1] and loaded.created.startswith("2026-02-01")
    assert loaded.mm_per_px == pytest.approx(later.mm_per_px)
    assert loaded.age_days(datetime(2026, 2, 1, tzinfo=UTC) + timedelta(days=3)) == pytest.approx(3.0)
    assert latest_calibration(tmp_path, "cam9") is None


def test_cli_calibrates_a_folder_saves_and_audits(chessboard_views, station_yaml: Path, tmp_path: Path) -> None:
    folder = tmp_path / "target"
    folder.mkdir()
    for i, view in enumerate(chessboard_views):
        cv2.imwrite(str(folder / f"view_{i}.png"), view)
    result = CliRunner().invoke(station, ["calibrate", "--config", str(station_yaml), "--images", str(folder),
                                          "--cols", "10", "--rows", "7", "--square-mm", "12"])
    assert result.exit_code == 0, result.output
    assert "0.375" in result.output and "reprojection" in result.output
    files = calibration_files(tmp_path / "data" / "calibration", "cam0")
    assert len(files) == 1
    assert json.loads(files[0].read_text())["target"]["plane_view"] == "view_0.png"
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "station.db") as db:
        rows = db.execute("select action, detail from audit").fetchall()
    assert rows[0][0] == "calibrate" and json.loads(rows[0][1])["file"] == str(files[0])
    bad = CliRunner().invoke(station, ["calibrate", "--config", str(station_yaml), "--images", str(folder),
                                       "--cols", "8", "--rows", "7", "--square-mm", "12"])
    assert bad.exit_code == 2 and "not found" in bad.output


def test_cli_calibrates_from_the_configured_camera(chessboard_views, tmp_path: Path, tiny_model: Path) -> None:
    """The same views played by a replay camera: frames grabbed from the station's configured camera."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for i, view in enumerate(chessboard_views):
        cv2.imwrite(str(folder / f"view_{i}.png"), view)
    (tmp_path / "recipe.yaml").write_text(f"name: r\nmodel: {tiny_model}\n")
    config = tmp_path / "station.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nrecipe: recipe.yaml\ncalibration_dir: {tmp_path / 'cal'}\n"
                      f"cameras:\n  - kind: replay\n    id: top\n    path: {folder}\n"
                      "detector:\n  kind: ultralytics\n  device: cpu\n")
    result = CliRunner().invoke(station, ["calibrate", "--config", str(config), "--camera", "top", "--frames",
                                          str(len(chessboard_views)), "--interval-s", "0", "--cols", "10", "--rows",
                                          "7", "--square-mm", "12"])
    assert result.exit_code == 0, result.output
    saved = latest_calibration(tmp_path / "cal", "top")
    assert saved is not None and saved.views == len(chessboard_views) and saved.source == "camera top"
    assert saved.mm_per_px == pytest.approx(TRUE_MM_PER_PX, rel=0.005)
