"""A simulated line: the twin makes parts (with the setpoints in force now), they are rendered as frames.

Used by the `kind: twin` camera, the closed-loop simulation and the tests; the frames carry the labels
the renderer drew, so a run can be scored against the truth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from inspection.domain.types import Box, Detection, Frame
from inspection.simulation.twin import PartOutcome, ProcessTwin

__all__ = ["TwinLine", "TwinPart"]


@dataclass(frozen=True, slots=True)
class TwinPart:
    """A part the twin made: its outcome, the rendered frame and the labels the generator drew."""

    outcome: PartOutcome
    frame: Frame
    labels: tuple[Detection, ...]


class TwinLine:
    """Makes parts with the twin (setpoints in force now) and renders them as camera frames."""

    def __init__(self, twin: ProcessTwin, size: tuple[int, int] = (160, 160), camera_id: str = "twin") -> None:
        self.twin = twin
        self.size = size
        self.camera_id = camera_id

    def next(self) -> TwinPart:
        outcome = self.twin.next_part()
        part = self.twin.render(outcome, self.size)
        frame = Frame(part.image, self.camera_id, outcome.index, time.time(),
                      part_id=f"{self.twin.process}-{outcome.index:06d}", source="process-twin")
        labels = tuple(Detection(d.class_name, 1.0, Box(*d.box), d.class_id,
                                 tuple((float(x), float(y)) for x, y in d.polygon), source="label")
                       for d in part.defects)
        return TwinPart(outcome, frame, labels)

    def __iter__(self) -> Iterator[TwinPart]:
        while True:
            yield self.next()
