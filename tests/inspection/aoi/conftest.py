"""Fixtures for the AOI tests: the shipped demo board (placement list + library) rendered on demand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspection.aoi.align import BoardTransform
from inspection.aoi.library import PackageLibrary, load_library
from inspection.aoi.placement import PlacementList, load_placements

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "inspection" / "aoi" / "examples"
SHARED_DATA = REPO / ".." / "shared" / "data"
SIZE = (880, 560)


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_placements() -> PlacementList:
    return load_placements(EXAMPLES / "demo_board.csv")


@pytest.fixture(scope="session")
def demo_library() -> PackageLibrary:
    return load_library(EXAMPLES / "packages.yaml")


@pytest.fixture(scope="session")
def nominal() -> BoardTransform:
    return BoardTransform.nominal(16.0, (40.0, 520.0))


def moved(nominal: BoardTransform, dx_px: float, dy_px: float, angle_deg: float) -> BoardTransform:
    a = np.radians(angle_deg)
    return nominal.then(np.array([[np.cos(a), -np.sin(a), dx_px], [np.sin(a), np.cos(a), dy_px]]))


@pytest.fixture(scope="session")
def move():
    """move(nominal, dx_px, dy_px, angle_deg): the board displaced in the fixture."""
    return moved


@pytest.fixture(scope="session")
def board_size() -> tuple[int, int]:
    return SIZE
