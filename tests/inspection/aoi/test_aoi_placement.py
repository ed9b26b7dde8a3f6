"""Placement-file import: the common CAD export layouts, units, and clear errors naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspection.aoi.placement import load_placements, parse_placements
from inspection.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[3] / "inspection" / "aoi" / "examples"

ALTIUM = """Altium Designer Pick and Place Locations
C:\\boards\\demo.PcbDoc

========================================================================================================================
File Design Information:

Date:       25.11.26
Units used: mm

"Designator","Footprint","Mid X","Mid Y","Ref X","Ref Y","Pad X","Pad Y","Layer","Rotation","Comment"
"R12","R0805","12.5mm","20.0mm","12.5mm","20.0mm","11.5mm","20.0mm","T","90.00","10k"
"C3","C0603","500mil","100mil","500mil","100mil","480mil","100mil","B","270","100n"
"""

KICAD_POS = """### Footprint positions - created on 2026-11-25 ###
## Unit = mm, Angle = deg.
## Side : top
# Ref     Val       Package                PosX       PosY       Rot  Side
R1        10k       R_0805_2012Metric   10.0000   -22.0000    0.0000  top
U1        LM358     SOIC-8_3.9x4.9mm    38.0000   -11.0000  180.0000  top
## End
"""

SEMICOLON_MIL = """RefDes;Center-X(mil);Center-Y(mil);Rot;TB;Package
R1;1000;500;45;T;R0805
R2;-20;40.5;0;B;R0805
"""


def test_altium_layout_with_preamble_and_units_in_values() -> None:
    board = parse_placements(ALTIUM, "demo.txt")
    r12, c3 = board.by_refdes("R12"), board.by_refdes("C3")
    assert (r12.x_mm, r12.y_mm, r12.rotation_deg, r12.side, r12.package, r12.value) == \
        (12.5, 20.0, 90.0, "top", "R0805", "10k")
    assert c3.x_mm == pytest.approx(12.7) and c3.y_mm == pytest.approx(2.54)
    assert c3.side == "bottom" and c3.line == 12


def test_kicad_pos_whitespace_layout() -> None:
    board = parse_placements(KICAD_POS, "demo.pos")
    assert [p.refdes for p in board] == ["R1", "U1"]
    assert board.by_refdes("U1").rotation_deg == 180.0 and board.by_refdes("R1").y_mm == -22.0


def test_semicolon_layout_units_in_header() -> None:
    board = parse_placements(SEMICOLON_MIL, "demo.csv")
    assert board.units == "mil"
    r1, r2 = board.by_refdes("R1"), board.by_refdes("R2")
    assert r1.x_mm == pytest.approx(25.4) and r1.y_mm == pytest.approx(12.7)
    assert r2.x_mm == pytest.approx(-0.508) and r2.side == "bottom"


def test_units_argument_applies_where_the_file_names_none() -> None:
    text = "Designator,X,Y,Rotation,Footprint\nR1,100,200,0,R0805\n"
    assert parse_placements(text, units="mil").by_refdes("R1").x_mm == pytest.approx(2.54)
    assert parse_placements(text).by_refdes("R1").x_mm == 100.0


def test_example_file_loads() -> None:
    board = load_placements(EXAMPLES / "demo_board.csv")
    assert len(board) == 12 and board.by_refdes("U1").package == "SOIC8"


@pytest.mark.parametrize(("text", "expected"), [
    ("Designator,X,Y,Rotation,Footprint,Colour\nR1,1,2,0,R0805,red\n", r"line 1: unknown column 'Colour'"),
    ("RefDes,X,Y,Rotation,Package\nR1,1,2,0,R0805\nR2,1,2,0,R0805\nR1,5,6,0,R0805\n",
     r"line 4: duplicate RefDes 'R1' \(first on line 2\)"),
    ("RefDes,X,Y,Package\nR1,1,2,R0805\n", r"line 1: header lacks column\(s\) rotation"),
    ("RefDes,X,Y,Rotation,Package\nR1,1,abc,0,R0805\n", r"line 2: y 'abc' is not a number"),
    ("RefDes,X,Y,Rotation,Package,Side\nR1,1,2,0,R0805,middle\n", r"line 2: R1 side 'middle'"),
    ("RefDes,X,Y,Rotation,Package\nR1,1,2,0,\n", r"line 2: R1 has no package"),
    ("just some text\nno header here\n", r"no header line"),
])
def test_bad_placement_files_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_placements(text, "board.csv")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="placement file not found"):
        load_placements(tmp_path / "nope.csv")


def test_a_coordinate_that_overflows_to_infinity_is_refused_with_its_line() -> None:
    from inspection.aoi.placement import parse_placements
    from inspection.errors import ConfigError

    text = "Designator,Footprint,Mid X,Mid Y,Rotation\nR1,R0603,1e400,22,0\n"
    with pytest.raises(ConfigError, match=r"line 2: .*'1e400' is not a finite number"):
        parse_placements(text, "board.csv")
