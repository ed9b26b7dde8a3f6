"""The AOI detector end to end: demo boards through a real Station (replay camera, SQLite store).

Checks that each defect is reported against the right reference designator, that per-RefDes results are
stored with the part, and that a board that cannot be inspected gets the fail-safe verdict, never a pass.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.adapters.registry import create_adapter
from inspection.aoi.inspector import BoardInspector, InspectorOptions
from inspection.aoi.synthetic import BoardDefect, render_board
from inspection.config import load_station_config
from inspection.domain.types import Frame
from inspection.errors import ConfigError, DataError
from inspection.runtime.pipeline import Station

SIZE = (880, 560)
NO_CLASSIFIER = {"kind": "aoi", "classifier": {"enabled": False}}


def _options(examples: Path, **extra) -> InspectorOptions:
    data = {"placements": examples / "demo_board.csv", "library": examples / "packages.yaml",
            "board": {"px_per_mm": 16, "origin_px": (40, 520)}, "classifier": {"enabled": False},
            "golden": {"reference": examples / "golden.jpg"}} | extra
    return InspectorOptions.model_validate(data)


@pytest.fixture(scope="module")
def inspector(examples: Path) -> BoardInspector:
    return BoardInspector(_options(examples))


def _checks(result) -> set[tuple[str, str, str]]:
    return {(d.attributes["refdes"], d.attributes["check"], d.class_name) for d in result.detections
            if "refdes" in d.attributes}


def test_good_board_moved_and_relit_has_no_findings(inspector, demo_placements, demo_library, nominal, move) -> None:
    image = render_board(demo_placements, demo_library, move(nominal, -6, 4, -0.7), SIZE, gain=1.2, seed=11)
    result = inspector.inspect(image)
    assert result.detections == ()
    assert result.alignment.method == "fiducials/similarity" and result.alignment.residual_px < 1.0
    assert {w.refdes for w in result.windows} == {"R1", "R2", "R3", "R4", "C1", "C2", "C3", "U1", "D1"}


@pytest.mark.parametrize(("refdes", "defect", "check", "class_name"), [
    ("R2", BoardDefect("missing"), "presence", "missing_component"),
    ("C3", BoardDefect("offset", dx_mm=0.0, dy_mm=0.7), "offset", "offset"),
    ("R4", BoardDefect("rotated", angle_deg=20), "rotation", "rotated"),
    ("U1", BoardDefect("rotated", angle_deg=9), "rotation", "rotated"),
])
def test_each_body_defect_is_reported_on_its_refdes(inspector, demo_placements, demo_library, nominal, move,
                                                    refdes, defect, check, class_name) -> None:
    image = render_board(demo_placements, demo_library, move(nominal, 3, -2, 0.3), SIZE, {refdes: defect}, seed=5)
    result = inspector.inspect(image)
    assert (refdes, check, class_name) in _checks(result)
    assert {d.attributes.get("refdes") for d in result.detections} == {refdes}  # nothing else blamed


def test_bridge_is_a_golden_difference_on_u1_pins(inspector, demo_placements, demo_library, nominal) -> None:
    image = render_board(demo_placements, demo_library, nominal, SIZE, {"U1": BoardDefect("bridge")}, seed=6)
    found = [d for d in inspector.inspect(image).detections]
    assert len(found) == 1
    assert found[0].source == "golden" and found[0].attributes["refdes"] == "U1"
    assert found[0].attributes["pin"] in {"1", "2"}


def test_reference_of_another_size_names_the_reference(inspector) -> None:
    with pytest.raises(DataError, match=r"golden.jpg is 880x560 px but the frame is 700x500 px"):
        inspector.inspect(np.zeros((500, 700, 3), np.uint8))


def test_unknown_package_fails_at_setup_naming_the_part(tmp_path: Path, examples: Path) -> None:
    placements = tmp_path / "board.csv"
    placements.write_text((examples / "demo_board.csv").read_text() + "Q9,SOT23,20,20,0,TopLayer,BC847\n")
    with pytest.raises(ConfigError, match=r"line 14: Q9 uses package 'SOT23'"):
        BoardInspector(_options(examples, placements=placements))


def test_fiducial_alignment_needs_fiducials(tmp_path: Path, examples: Path) -> None:
    placements = tmp_path / "board.csv"
    lines = (examples / "demo_board.csv").read_text().splitlines()
    placements.write_text("\n".join(ln for ln in lines if not ln.startswith("FID")) + "\n")
    with pytest.raises(ConfigError, match="needs 2 or 3 fiducial rows"):
        BoardInspector(_options(examples, placements=placements))


def test_feature_alignment_to_the_golden_board(examples, demo_placements, demo_library, nominal, move) -> None:
    inspector = BoardInspector(_options(examples, align="features"))
    image = render_board(demo_placements, demo_library, move(nominal, 5, 3, 0.4), SIZE,
                         {"C1": BoardDefect("missing")}, seed=8)
    result = inspector.inspect(image)
    assert result.alignment.method == "features/orb+ecc"
    assert ("C1", "presence", "missing_component") in _checks(result)
    assert {d.attributes.get("refdes") for d in result.detections} == {"C1"}


@pytest.fixture
def station_dir(tmp_path: Path, examples: Path) -> Path:
    """The shipped demo config copied beside its files, with a third board that cannot be aligned."""
    target = tmp_path / "demo"
    shutil.copytree(examples, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    blank = np.full((SIZE[1], SIZE[0], 3), (40, 95, 30), np.uint8)
    cv2.imwrite(str(target / "boards" / "board_003_no_fiducials.jpg"), blank)
    return target


def test_station_stores_verdicts_per_refdes_and_fails_safe(station_dir: Path, tmp_path: Path) -> None:
    config = load_station_config(station_dir / "aoi_station.yaml", {"data_dir": str(tmp_path / "data")})
    seen = []
    with Station(config, db_path=tmp_path / "station.db") as station:
        station.listeners.append(seen.append)
        summary = station.run()
        assert summary.parts == 3
        good, bad, blank = sorted(seen, key=lambda i: i.frame.sequence)
        assert good.verdict.status == "PASS", good.verdict.summary
        assert bad.verdict.status == "FAIL", bad.verdict.summary
        assert blank.verdict.status == "ERROR" and blank.verdict.failsafe
        assert "no contrast" in blank.verdict.reasons[0].message  # a blank frame is not a board (before fiducials)
        ids = {row["sequence"]: row["id"] for row in station.store.inspections()}
        rows = station.store.refdes_results(ids[1])
        by_refdes = {(r["refdes"], r["check_name"]) for r in rows}
        assert {("R3", "presence"), ("C2", "offset"), ("D1", "rotation")} <= by_refdes
        assert any(r["refdes"] == "U1" and r["check_name"] == "golden" and r["pin"] in {"1", "2"} for r in rows)
        assert all(r["counted"] == 1 for r in rows if r["check_name"] in {"presence", "offset", "rotation"})
        # The good board may log weak joint findings below the recipe's limit: stored, but not counted.
        assert all(r["counted"] == 0 for r in station.store.refdes_results(ids[0]))
        assert station.store.refdes_results(ids[2]) == []


def test_reference_of_another_size_gives_the_failsafe_verdict(station_dir: Path, tmp_path: Path) -> None:
    small = cv2.resize(cv2.imread(str(station_dir / "boards" / "board_001_good.jpg")), (640, 400))
    for old in (station_dir / "boards").iterdir():
        old.unlink()
    cv2.imwrite(str(station_dir / "boards" / "small.jpg"), small)
    config = load_station_config(station_dir / "aoi_station.yaml", {"data_dir": str(tmp_path / "data")})
    with Station(config, db_path=tmp_path / "station.db") as station:
        seen = []
        station.listeners.append(seen.append)
        station.run()
    (only,) = seen
    assert only.verdict.status == "ERROR" and only.verdict.failsafe
    assert "golden.jpg is 880x560 px but the frame is 640x400 px" in only.verdict.reasons[0].message


def test_adapter_through_the_registry(examples: Path) -> None:
    config = load_station_config(examples / "aoi_station.yaml", {"detector": NO_CLASSIFIER})
    detector = create_adapter("detector", config.detector)
    try:
        assert detector.model_id.startswith("aoi@")
        assert {"missing_component", "offset", "rotated", "difference"} <= set(detector.class_names)
        image = cv2.imread(str(examples / "boards" / "board_002_defects.jpg"))
        out = detector.detect(Frame(image, "cam0", 0, 0.0))
        assert {d.attributes.get("refdes") for d in out.detections} >= {"R3", "C2", "D1", "U1"}
    finally:
        detector.close()


def test_unknown_option_is_a_config_error(examples: Path) -> None:
    with pytest.raises(ConfigError, match="detector.golden.treshold: unknown key"):
        load_station_config(examples / "aoi_station.yaml",
                            {"detector": {"kind": "aoi", "golden": {"treshold": 3}}})


BOTTOM = """RefDes,X,Y,Rotation,Package,Side
FID1,3,3,0,FID1MM,bottom
FID2,47,27,0,FID1MM,bottom
FID3,47,3,0,FID1MM,bottom
R1,10,22,30,R0805,bottom
R2,20,12,0,R0805,bottom
U1,35,15,90,SOIC8,bottom
C1,10,10,0,C0805,top
"""


def test_bottom_side_camera_sees_a_mirrored_board(tmp_path: Path, examples: Path, demo_library) -> None:
    from inspection.aoi.align import BoardTransform
    from inspection.aoi.placement import load_placements

    placements = tmp_path / "bottom.csv"
    placements.write_text(BOTTOM)
    board = {"px_per_mm": 16, "origin_px": (840, 520), "mirror_x": True}
    inspector = BoardInspector(_options(examples, placements=placements, side="bottom", board=board, golden=None))
    truth = BoardTransform.nominal(16, (836, 523), mirror_x=True)
    parts = load_placements(placements)
    good = render_board(parts, demo_library, truth, SIZE, side="bottom", seed=3)
    result = inspector.inspect(good)
    assert result.detections == () and result.alignment.residual_px < 1.0
    assert {w.refdes for w in result.windows} == {"R1", "R2", "U1"}  # C1 is on the other side
    bad = render_board(parts, demo_library, truth, SIZE, {"R1": BoardDefect("missing")}, side="bottom", seed=3)
    assert _checks(inspector.inspect(bad)) == {("R1", "presence", "missing_component")}


@pytest.mark.parametrize("level", [0, 128, 255])
def test_a_blank_frame_is_not_a_board(inspector, level: int) -> None:
    """With nominal alignment and joint checks only, every crop of a blank frame is flat and reads "normal":
    a board nobody saw passed. No contrast → ERROR (DataError), whatever the checks."""
    with pytest.raises(DataError, match="no contrast"):
        inspector.inspect(np.full((560, 880, 3), level, np.uint8))
