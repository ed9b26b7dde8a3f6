"""Per-product recipe: which detections count as defects and what the part's verdict is.

A recipe is a YAML file owned by quality engineering. It travels with the product, not the station:
thresholds per class, minimum defect size in pixels or millimetres, a region of interest, and what a
part that could not be inspected gets (the fail-safe verdict). A recipe may measure defects in mm from a
camera calibration and accept them by size per zone of the part (`measure:`, `part:`, `zones:`; see
`inspection.domain.zones` and docs/measurement.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from inspection.config import ConfigPath, StrictModel, read_yaml, validate_model
from inspection.domain.multiview import ViewsConfig
from inspection.domain.tiling import TilingOptions
from inspection.domain.tta import TtaOptions
from inspection.domain.zones import MeasureOptions, PartFrame, Zone
from inspection.errors import ConfigError

__all__ = ["ClassRule", "Recipe", "RegionOfInterest", "load_recipe"]

Point = tuple[float, float]


class ClassRule(StrictModel):
    """When a detection of one class counts, and what it does to the verdict."""

    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    min_area_px: float = Field(0.0, ge=0.0)
    min_length_px: float = Field(0.0, ge=0.0)
    min_area_mm2: float | None = Field(None, ge=0.0)
    min_length_mm: float | None = Field(None, ge=0.0)
    action: Literal["fail", "review", "ignore"] = "fail"


def _polygon_area(points: list[Point]) -> float:
    """Shoelace formula (absolute area in px²)."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2.0


class RegionOfInterest(StrictModel):
    """Polygons in image pixels. A detection counts when its centre is inside an `include` polygon
    (or there are none) and inside no `exclude` polygon."""

    include: list[list[Point]] = Field(default_factory=list)
    exclude: list[list[Point]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _polygons_have_area(self) -> RegionOfInterest:
        for name in ("include", "exclude"):
            for i, poly in enumerate(getattr(self, name)):
                if len(poly) < 3:
                    raise ValueError(f"{name}[{i}] needs at least 3 points [x, y], got {len(poly)}")
                if _polygon_area(poly) <= 0.0:  # a line or a point: nothing could ever be inside it
                    raise ValueError(f"{name}[{i}] {poly} encloses no area: give the corners of a region")
        return self


class Recipe(StrictModel):
    name: str
    product: str = ""
    description: str = ""
    model: ConfigPath | None = Field(None, description="model file for this product (overrides the station's)")
    registry_product: str | None = Field(
        None, description="load this product's production model from the model registry (overrides model:)")
    pixel_size_mm: float | None = Field(None, ge=1e-6, le=1e3, description="mm per pixel, for *_mm limits")
    default: ClassRule = ClassRule()
    classes: dict[str, ClassRule] = Field(default_factory=dict)
    roi: RegionOfInterest = RegionOfInterest()
    failsafe_verdict: Literal["ERROR", "FAIL"] = "ERROR"
    deadline_ms: float = Field(2000.0, gt=0.0, le=3_600_000.0,
                               description="a part not judged within this is fail-safe (at most an hour)")
    keep_images: Literal["all", "failures", "sample", "none"] | None = None
    tiling: TilingOptions | None = Field(None, description="overlapping tiles for small defects on large images")
    tta: TtaOptions | None = Field(None, description="test-time augmentation: also run flipped copies of each "
                                   "image (tile) and fuse the detections; one network pass per copy")
    measure: MeasureOptions | None = Field(None, description="measure defects in mm (see docs/measurement.md)")
    part: PartFrame = Field(PartFrame(), description="part coordinates (mm) on the image, for zones")
    zones: list[Zone] = Field(default_factory=list, description="acceptance zones with size limits per class")
    views: ViewsConfig | None = Field(None, description="one part seen by several views (cameras or positions): "
                                      "one combined result per part to the PLC, the worst view wins")
    source_file: Path | None = None

    @model_validator(mode="after")
    def _mm_limits_need_scale(self) -> Recipe:
        rules = {"default": self.default, **{f"classes.{k}": v for k, v in self.classes.items()}}
        for key, rule in rules.items():
            if ((rule.min_area_mm2 is not None or rule.min_length_mm is not None) and self.pixel_size_mm is None
                    and self.measure is None):
                raise ValueError(f"{key} sets a limit in mm; set pixel_size_mm (mm per pixel) or measure: "
                                 f"(a calibrated camera) in the recipe")
        if self.measure is not None and self.measure.calibration == "nominal" and self.pixel_size_mm is None:
            raise ValueError("measure.calibration: nominal needs pixel_size_mm (mm per pixel) in the recipe")
        if self.zones and self.measure is None:
            raise ValueError("zones are in part millimetres; set measure: (calibration: required or nominal)")
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError(f"zones: names must be unique, got {names}")
        return self

    def rule_for(self, class_name: str) -> ClassRule:
        return self.classes.get(class_name, self.default)

    def check_classes(self, model_classes: tuple[str, ...], model_name: str = "the model") -> None:
        """A recipe naming a class the model cannot detect is a mistake that would hide defects."""
        zoned = {c for z in self.zones for c in z.classes}
        unknown = sorted((set(self.classes) | zoned) - set(model_classes))
        if unknown:
            where = self.source_file or self.name
            raise ConfigError(
                f"{where}: classes: {', '.join(unknown)} not among {model_name}'s classes "
                f"({', '.join(model_classes)}); fix the recipe or use the model trained for this product"
            )


def load_recipe(path: Path | str) -> Recipe:
    path = Path(path)
    raw = read_yaml(path)
    raw["source_file"] = path
    return validate_model(Recipe, raw, str(path), base_dir=path.resolve().parent)
