"""Placement (pick-and-place / centroid) file import: one row per component, in board coordinates.

Accepts the common CAD export layouts (Altium, KiCad, Eagle, generic CSV): comma, semicolon, tab or
whitespace separated, a free-text preamble before the header line, units in the header (`X (mm)`,
`PosX[mil]`), in the values (`12.5mm`, `492mil`) or given by the caller. Column names are matched after
lower-casing and removing spaces, `_`, `-` and `.`:

| field    | accepted headers                                                    |
|----------|---------------------------------------------------------------------|
| refdes   | RefDes, Designator, Ref, Reference, Part Designator, Component        |
| x        | X, Mid X, Center-X, Centre X, PosX, Pos X, Location X, Cx             |
| y        | Y, Mid Y, Center-Y, Centre Y, PosY, Pos Y, Location Y, Cy             |
| rotation | Rotation, Rot, Angle, Orientation, Theta                              |
| side     | Side, Layer, TB, T/B, Mount Side, Top/Bottom  (values top/bottom, T/B, TopLayer…) |
| package  | Package, Footprint, Pattern, Case, Package Name                       |
| (kept)   | Value, Val, Comment, Description, Part Number, MPN, Manufacturer      |
| (ignored)| Ref X/Y, Pad X/Y, Height, Fitted, Populated, Notes                    |

Any other column is an error naming the line and the column; so is a duplicate RefDes (naming both lines).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inspection.errors import ConfigError

__all__ = ["COLUMN_ALIASES", "Placement", "PlacementList", "load_placements", "parse_placements"]

Units = Literal["mm", "mil", "inch"]
UNIT_MM: dict[str, float] = {"mm": 1.0, "mil": 0.0254, "inch": 25.4}

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "refdes": ("refdes", "designator", "ref", "reference", "partdesignator", "component", "refdesignator"),
    "x": ("x", "midx", "centerx", "centrex", "posx", "locationx", "cx", "xpos", "centroidx"),
    "y": ("y", "midy", "centery", "centrey", "posy", "locationy", "cy", "ypos", "centroidy"),
    "rotation": ("rotation", "rot", "angle", "orientation", "theta"),
    "side": ("side", "layer", "tb", "t/b", "mountside", "top/bottom", "placementside"),
    "package": ("package", "footprint", "pattern", "case", "packagename"),
    "value": ("value", "val", "comment"),
    "description": ("description", "partnumber", "mpn", "manufacturer", "manufacturerpartnumber"),
}
# Columns that CAD tools export but placement does not need (secondary reference points, …).
IGNORED_COLUMNS = frozenset({"refx", "refy", "padx", "pady", "height", "fitted", "populated", "notes", "dnp"})
REQUIRED = ("refdes", "x", "y", "rotation", "package")
_UNIT_IN_HEADER = re.compile(r"[\(\[]\s*(mm|mils?|in|inch)\s*[\)\]]\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(mm|mils?|in|inch|deg|°)?\s*$",
                     re.IGNORECASE)
_SIDES = {"top": "top", "t": "top", "toplayer": "top", "front": "top", "f.cu": "top", "f": "top",
          "bottom": "bottom", "b": "bottom", "bot": "bottom", "bottomlayer": "bottom", "back": "bottom",
          "b.cu": "bottom"}


@dataclass(frozen=True, slots=True)
class Placement:
    """One component: centroid in board millimetres (CAD axes: x right, y up), rotation in degrees CCW."""

    refdes: str
    x_mm: float
    y_mm: float
    rotation_deg: float
    package: str
    side: Literal["top", "bottom"] = "top"
    value: str = ""
    line: int = 0


@dataclass(frozen=True)
class PlacementList:
    placements: tuple[Placement, ...]
    source: str
    units: str

    def __iter__(self) -> Iterator[Placement]:
        return iter(self.placements)

    def __len__(self) -> int:
        return len(self.placements)

    def by_refdes(self, refdes: str) -> Placement:
        for placement in self.placements:
            if placement.refdes == refdes:
                return placement
        raise KeyError(refdes)

    def on_side(self, side: str) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.side == side)


def _norm(header: str) -> str:
    return re.sub(r"[\s_\-.\"']", "", _UNIT_IN_HEADER.sub("", header)).lower()


def _unit_of(token: str) -> str | None:
    token = token.lower()
    if token.startswith("mil"):
        return "mil"
    if token in ("in", "inch"):
        return "inch"
    return "mm" if token == "mm" else None


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))


def _delimiter(line: str) -> str | None:
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else None


def _is_header(cells: list[str]) -> bool:
    names = {_norm(c) for c in cells}
    return bool(names & set(COLUMN_ALIASES["refdes"])) and bool(names & set(COLUMN_ALIASES["x"]))


def _map_columns(cells: list[str], source: str, line_no: int) -> tuple[dict[str, int], dict[str, str]]:
    """Header cells → {field: column index} and {field: unit from the header}."""
    mapping: dict[str, int] = {}
    units: dict[str, str] = {}
    for index, cell in enumerate(cells):
        name = _norm(cell.lstrip("#"))
        if not name or name in IGNORED_COLUMNS:
            continue
        field = next((f for f, aliases in COLUMN_ALIASES.items() if name in aliases), None)
        if field is None:
            accepted = ", ".join(a for aliases in COLUMN_ALIASES.values() for a in aliases[:3])
            raise ConfigError(f"{source}: line {line_no}: unknown column {cell.strip()!r}; expected placement "
                              f"columns such as {accepted} (see docs/aoi.md), or remove the column")
        if field in mapping:
            # Altium exports Mid X and Ref X; the alias order prefers the centroid, so keep the first match.
            continue
        mapping[field] = index
        if match := _UNIT_IN_HEADER.search(cell):
            units[field] = _unit_of(match.group(1)) or "mm"
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        raise ConfigError(f"{source}: line {line_no}: header lacks column(s) {', '.join(missing)} "
                          f"(found {', '.join(c.strip() for c in cells)}); see docs/aoi.md for the accepted names")
    return mapping, units


def _number(text: str, what: str, source: str, line_no: int, header_unit: str | None,
            default_unit: str) -> float:
    match = _NUMBER.match(text)
    if not match:
        raise ConfigError(f"{source}: line {line_no}: {what} {text.strip()!r} is not a number")
    value = float(match.group(1))
    if not math.isfinite(value):  # "1e400" matches the number pattern and is infinity
        raise ConfigError(f"{source}: line {line_no}: {what} {text.strip()!r} is not a finite number")
    if what == "rotation":
        return value
    unit = _unit_of(match.group(2) or "") or header_unit or default_unit
    return value * UNIT_MM[unit]


def parse_placements(text: str, source: str = "<placements>", units: Units | None = None) -> PlacementList:
    """Parse placement text. `units` applies where neither the header nor the value names a unit."""
    lines = text.splitlines()
    header_at = None
    delimiter: str | None = None
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        delimiter = _delimiter(line)
        if _is_header([c.lstrip("#") for c in _split(line.lstrip("#"), delimiter)]):
            header_at = i
            break
    if header_at is None:
        raise ConfigError(f"{source}: no header line with a RefDes/Designator and an X column found; "
                          f"the placement file needs a header row (see docs/aoi.md)")
    header = _split(lines[header_at].lstrip("#"), delimiter)
    mapping, header_units = _map_columns(header, source, header_at + 1)
    default_unit = units or "mm"
    placements: list[Placement] = []
    first_line: dict[str, int] = {}
    for i in range(header_at + 1, len(lines)):
        line_no, raw = i + 1, lines[i]
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cells = _split(raw, delimiter)
        if len(cells) < len(header) and len(cells) <= max(mapping.values()):
            raise ConfigError(f"{source}: line {line_no}: {len(cells)} fields, the header has {len(header)}")
        placement = _row(cells, mapping, header_units, default_unit, source, line_no)
        if placement.refdes in first_line:
            raise ConfigError(f"{source}: line {line_no}: duplicate RefDes {placement.refdes!r} (first on line "
                              f"{first_line[placement.refdes]}); every component needs a unique designator")
        first_line[placement.refdes] = line_no
        placements.append(placement)
    if not placements:
        raise ConfigError(f"{source}: no components below the header on line {header_at + 1}")
    return PlacementList(tuple(placements), source, header_units.get("x") or default_unit)


def _row(cells: list[str], mapping: dict[str, int], header_units: dict[str, str], default_unit: str,
         source: str, line_no: int) -> Placement:
    def cell(field: str) -> str:
        index = mapping.get(field)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    refdes = cell("refdes")
    if not refdes:
        raise ConfigError(f"{source}: line {line_no}: empty RefDes")
    package = cell("package")
    if not package:
        raise ConfigError(f"{source}: line {line_no}: {refdes} has no package/footprint")
    side_text = cell("side").lower().replace(" ", "") or "top"
    side = _SIDES.get(side_text)
    if side is None:
        raise ConfigError(f"{source}: line {line_no}: {refdes} side {cell('side')!r} is neither top nor bottom")
    return Placement(
        refdes=refdes,
        x_mm=_number(cell("x"), "x", source, line_no, header_units.get("x"), default_unit),
        y_mm=_number(cell("y"), "y", source, line_no, header_units.get("y"), default_unit),
        rotation_deg=_number(cell("rotation") or "0", "rotation", source, line_no, None, default_unit) % 360.0,
        package=package, side=side,  # type: ignore[arg-type]
        value=cell("value"), line=line_no,
    )


def load_placements(path: Path | str, units: Units | None = None) -> PlacementList:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: placement file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the placement file ({exc})") from None
    return parse_placements(text, str(path), units)
