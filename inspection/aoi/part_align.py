"""Fiducial alignment of a recipe's part frame (acceptance zones, `inspection.domain.zones`), as boards are aligned.

The judge is given `align_part` by whoever builds it (the station, the size evaluation): the domain rules do not
import the detector packages."""

from __future__ import annotations

import numpy as np

from inspection.aoi.align import BoardTransform, align_by_fiducials
from inspection.aoi.library import Fiducial
from inspection.aoi.placement import Placement
from inspection.domain.zones import PartFrame

__all__ = ["align_part"]


def align_part(image: np.ndarray, frame: PartFrame, nominal: np.ndarray) -> np.ndarray:
    """The part's mm → px matrix (2×3) found from its fiducials; raises DataError when they are not found."""
    pairs = [(Placement(f.name, f.x_mm, f.y_mm, 0.0, "fiducial"), Fiducial(diameter=f.diameter_mm, polarity=f.polarity))
             for f in frame.fiducials]
    found = align_by_fiducials(image, pairs, BoardTransform(np.asarray(nominal, np.float64)), frame.search_radius_mm,
                               frame.min_score)
    return found.transform.matrix
