"""`station aoi check` and `station aoi inspect` on the shipped demo."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from inspection.cli import station


def test_check_lists_components_and_fiducials(examples: Path) -> None:
    result = CliRunner().invoke(station, ["aoi", "check", "--placements", str(examples / "demo_board.csv"),
                                          "--library", str(examples / "packages.yaml")])
    assert result.exit_code == 0, result.output
    assert "fiducials on top: FID1, FID2, FID3" in result.output
    assert "U1       SOIC8" in result.output and "checks: presence, offset, rotation, golden" in result.output


def test_check_names_the_part_missing_from_the_library(tmp_path: Path, examples: Path) -> None:
    placements = tmp_path / "board.csv"
    placements.write_text("RefDes,X,Y,Rotation,Package\nQ1,1,1,0,SOT23\n")
    result = CliRunner().invoke(station, ["aoi", "check", "--placements", str(placements),
                                          "--library", str(examples / "packages.yaml")])
    assert result.exit_code == 2
    assert "line 2: Q1 uses package 'SOT23'" in result.output


def test_inspect_judges_each_board_and_lists_findings_by_refdes(examples: Path) -> None:
    boards = sorted((examples / "boards").glob("*.jpg"))
    result = CliRunner().invoke(station, ["aoi", "inspect", "--config", str(examples / "aoi_station.yaml"),
                                          *map(str, boards)])
    assert result.exit_code == 1, result.output  # the second board is rejected
    good, bad = result.output.split("board_002_defects.jpg")
    assert "board_001_good.jpg: PASS" in good
    assert bad.startswith(": FAIL")
    assert "R3: missing_component 1.00 [presence]" in bad
    assert "C2: offset" in bad and "D1: rotated" in bad
