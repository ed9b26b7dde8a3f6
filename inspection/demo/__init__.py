"""The bundled demo: sample parts, recipes and models the project produced itself.

`station demo` runs it with no configuration. Everything here ships inside the package.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_DIR", "PRODUCTS", "demo_config_path"]

DEMO_DIR = Path(__file__).resolve().parent
PRODUCTS = ("solder", "paint", "board")
"""solder: reflowed PCB regions (YOLO); paint: painted panels (YOLO); board: an SMT board inspected the AOI
way (placement list, fiducials, per-joint classifier, golden board). The bare-PCB model trained on DeepPCB
needs golden-board composites of a data set that may not be redistributed, so it has no bundled parts."""


def demo_config_path(product: str = "solder") -> Path:
    if product == "board":
        return DEMO_DIR.parent / "aoi" / "examples" / "aoi_station.yaml"
    return DEMO_DIR / f"{product}.yaml"
