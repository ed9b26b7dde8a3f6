"""Package library (YAML): per package, the body and pad windows relative to the component origin, and the checks.

```yaml
packages:
  R0603:
    aliases: [R_0603_1608Metric]        # other names CAD exports use for the same land pattern
    body: {width: 1.6, height: 0.8, gray: [0, 60]}   # or polarity: dark|bright (Otsu)
    pads:
      - {pin: "1", x: -0.8, y: 0, width: 0.7, height: 0.9}
      - {pin: "2", x: 0.8, y: 0, width: 0.7, height: 0.9}
    checks: [presence, offset, rotation, joints]
    offset_mm: 0.25
    rotation_deg: 8
  FID1MM:
    fiducial: {diameter: 1.0}
```

All lengths in millimetres in the component's own frame (x along pin 1 → pin 2 at rotation 0, y up),
before the placement's rotation is applied. A placement whose package is a `fiducial` is used for alignment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from inspection.aoi.placement import Placement, PlacementList
from inspection.config import StrictModel, read_yaml, validate_model
from inspection.errors import ConfigError

__all__ = ["CHECKS", "Body", "Fiducial", "Package", "PackageLibrary", "Pad", "load_library"]

Check = Literal["presence", "offset", "rotation", "joints", "golden"]
CHECKS: tuple[str, ...] = ("presence", "offset", "rotation", "joints", "golden")


class Body(StrictModel):
    width: float = Field(gt=0.0, description="mm along the component's x axis")
    height: float = Field(gt=0.0, description="mm along the component's y axis")
    x: float = 0.0
    y: float = 0.0
    polarity: Literal["dark", "bright"] = Field("dark", description="body darker or brighter than the board")
    gray: tuple[int, int] | None = Field(None, description="grey range [low, high] of body pixels, taught on a "
                                               "good board; empty = Otsu split and `polarity`")

    @model_validator(mode="after")
    def _range(self) -> Body:
        if self.gray is not None and not 0 <= self.gray[0] <= self.gray[1] <= 255:
            raise ValueError(f"gray: expected [low, high] with 0 <= low <= high <= 255, got {list(self.gray)}")
        return self


class Pad(StrictModel):
    pin: str
    x: float
    y: float
    width: float = Field(gt=0.0)
    height: float = Field(gt=0.0)
    margin: float = Field(0.3, ge=0.0, description="joint window grows by this fraction on each side")


class Fiducial(StrictModel):
    diameter: float = Field(gt=0.0, description="copper dot diameter in mm")
    polarity: Literal["bright", "dark"] = "bright"


class Package(StrictModel):
    aliases: list[str] = Field(default_factory=list)
    body: Body | None = None
    pads: list[Pad] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=lambda: ["presence", "offset", "rotation", "joints"])
    offset_mm: float = Field(0.3, gt=0.0, description="largest accepted centroid offset")
    rotation_deg: float = Field(10.0, gt=0.0, description="largest accepted rotation error")
    min_fill: float = Field(0.5, gt=0.0, le=1.0, description="body found if this share of its area is seen")
    symmetric: int = Field(180, description="body looks the same after this rotation (180 for chips, 90, 360)")
    fiducial: Fiducial | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Package:
        if self.fiducial is not None:
            return self
        needs_body = {"presence", "offset", "rotation"} & set(self.checks)
        if needs_body and self.body is None:
            raise ValueError(f"checks {sorted(needs_body)} need a body: {{width, height}}")
        if "joints" in self.checks and not self.pads:
            raise ValueError("check 'joints' needs pads: [{pin, x, y, width, height}, …]")
        pins = [p.pin for p in self.pads]
        if len(set(pins)) != len(pins):
            raise ValueError(f"pad pins must be unique, got {pins}")
        return self


class PackageLibrary(StrictModel):
    packages: dict[str, Package] = Field(min_length=1)
    source_file: Path | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> PackageLibrary:
        seen: dict[str, str] = {}
        for name, package in self.packages.items():
            for alias in (name, *package.aliases):
                if alias.lower() in seen and seen[alias.lower()] != name:
                    raise ValueError(f"package name {alias!r} is used by both {seen[alias.lower()]} and {name}")
                seen[alias.lower()] = name
        return self

    def find(self, name: str) -> tuple[str, Package] | None:
        """Exact name, then case-insensitive name or alias."""
        if name in self.packages:
            return name, self.packages[name]
        lowered = name.lower()
        for key, package in self.packages.items():
            if lowered == key.lower() or lowered in (a.lower() for a in package.aliases):
                return key, package
        return None

    def resolve(self, placements: PlacementList) -> dict[str, Package]:
        """RefDes → package; every missing package is reported at once, with its RefDes and line."""
        resolved: dict[str, Package] = {}
        missing: list[str] = []
        for placement in placements:
            found = self.find(placement.package)
            if found is None:
                missing.append(f"{placements.source}: line {placement.line}: {placement.refdes} uses package "
                               f"{placement.package!r}")
            else:
                resolved[placement.refdes] = found[1]
        if missing:
            where = self.source_file or "the package library"
            raise ConfigError("\n".join(missing) + f"\nnot in {where}; add the package(s) (or an alias) under "
                              f"packages: (known: {', '.join(sorted(self.packages))})")
        return resolved

    def fiducials(self, placements: PlacementList, side: str = "top") -> list[tuple[Placement, Fiducial]]:
        out = []
        for placement in placements.on_side(side):
            found = self.find(placement.package)
            if found is not None and found[1].fiducial is not None:
                out.append((placement, found[1].fiducial))
        return out


def load_library(path: Path | str) -> PackageLibrary:
    path = Path(path)
    data = read_yaml(path)
    return validate_model(PackageLibrary, {**data, "source_file": path}, str(path))
