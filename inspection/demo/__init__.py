"""The bundled demo: sample parts, recipes and models the project produced itself.

`station demo` runs it with no configuration. Everything here ships inside the package.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_DIR", "PRODUCTS", "demo_config_path"]

DEMO_DIR = Path(__file__).resolve().parent
PRODUCTS = ("solder", "paint", "pcb")


def demo_config_path(product: str = "solder") -> Path:
    return DEMO_DIR / f"{product}.yaml"
