"""`kind: none`: no reject output (bench tests, offline re-inspection)."""

from __future__ import annotations

from typing import Literal

from inspection.config import AdapterOptions
from inspection.domain.types import Inspection

__all__ = ["NoOutput", "Options", "create"]


class Options(AdapterOptions):
    kind: Literal["none"] = "none"


class NoOutput:
    def __init__(self) -> None:
        self.published = 0

    def open(self) -> None:
        pass

    def publish(self, inspection: Inspection) -> None:
        self.published += 1

    def close(self) -> None:
        pass


def create(options: Options, **_: object) -> NoOutput:
    return NoOutput()
