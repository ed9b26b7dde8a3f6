"""Seeded, deterministic synthetic solder and paint parts with detection and segmentation labels.

>>> from inspection.simulation.synthetic import SolderGenerator
>>> part = SolderGenerator(seed=0).part(3, defect_probabilities={"bridge": 0.5})
>>> part.image.shape
(320, 320, 3)
"""

from inspection.simulation.synthetic._base import PIXEL_FORMATS, Defect, PartGenerator, SyntheticPart
from inspection.simulation.synthetic.paint import PAINT_CLASSES, PaintGenerator
from inspection.simulation.synthetic.solder import SOLDER_CLASSES, SolderGenerator
from inspection.simulation.synthetic.yolo import generator_for, write_yolo_dataset, yolo_label_lines

__all__ = [
    "PAINT_CLASSES",
    "PIXEL_FORMATS",
    "SOLDER_CLASSES",
    "Defect",
    "PaintGenerator",
    "PartGenerator",
    "SolderGenerator",
    "SyntheticPart",
    "generator_for",
    "write_yolo_dataset",
    "yolo_label_lines",
]
