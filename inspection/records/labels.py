"""Labels on kept samples, and the review decisions that make samples training data.

A review decision is accept (the model's detections were right: they become the labels), reject
(the sample is not usable) or relabel (an engineer drew the labels). Every label row records who
wrote it and when; deleting a label keeps the row (`deleted = 1`) for the audit trail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from inspection.domain.permissions import User, require
from inspection.domain.types import Box, Polygon
from inspection.errors import DataError
from inspection.records.store import Store

__all__ = ["Label", "LabelBook"]

ReviewDecision = Literal["accepted", "rejected", "relabelled"]


@dataclass(frozen=True, slots=True)
class Label:
    class_name: str
    box: Box
    polygon: Polygon | None = None
    id: int | None = None
    author: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LabelBook:
    """Reads and writes sample labels and review decisions in the station's SQLite file."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.transaction("the labels table") as db:
            db["labels"].create(
                {"id": int, "sample_id": int, "class_name": str, "x1": float, "y1": float, "x2": float,
                 "y2": float, "polygon": str, "author": str, "time": str, "deleted": int},
                pk="id", if_not_exists=True,
            )
            db["labels"].create_index(["sample_id"], if_not_exists=True)

    def labels(self, sample_id: int) -> list[Label]:
        rows = self.store.query("select * from labels where sample_id = ? and deleted = 0 order by id", [sample_id])
        return [Label(r["class_name"], Box(r["x1"], r["y1"], r["x2"], r["y2"]),
                      tuple(map(tuple, json.loads(r["polygon"]))) if r["polygon"] else None, r["id"], r["author"])
                for r in rows]

    def add(self, sample_id: int, label: Label, by: User) -> int:
        require(by, "review")
        self._sample(sample_id)
        return self.insert(sample_id, label, by.username)

    def insert(self, sample_id: int, label: Label, author: str) -> int:
        """Write a label without a permission check: for imports and the model's own labels."""
        return self.store.insert("labels", {
            "sample_id": sample_id, "class_name": label.class_name, "x1": label.box.x1, "y1": label.box.y1,
            "x2": label.box.x2, "y2": label.box.y2,
            "polygon": json.dumps(label.polygon) if label.polygon else None,
            "author": author, "time": _now(), "deleted": 0})

    def delete(self, label_id: int, by: User) -> None:
        require(by, "review")
        self.store.update("labels", label_id, {"deleted": 1, "author": by.username, "time": _now()})

    def replace(self, sample_id: int, labels: list[Label], by: User) -> None:
        """Set a sample's labels to exactly `labels` and mark it relabelled (what the label editor saves)."""
        require(by, "review")
        for old in self.labels(sample_id):
            assert old.id is not None
            self.delete(old.id, by)
        for label in labels:
            self.add(sample_id, label, by)
        self.store.update("samples", sample_id,
                          {"status": "relabelled", "reviewed_by": by.username, "reviewed_time": _now()})

    def review(self, sample_id: int, decision: ReviewDecision, by: User) -> None:
        """Accept (the model's counted detections become the labels), reject, or mark relabelled."""
        require(by, "review")
        sample = self._sample(sample_id)
        if decision == "accepted" and not self.labels(sample_id) and sample["inspection_id"] is not None:
            self._labels_from_model(sample_id, sample["inspection_id"])
        self.store.update("samples", sample_id,
                          {"status": decision, "reviewed_by": by.username, "reviewed_time": _now()})

    def set_golden(self, sample_id: int, by: User, golden: bool = True) -> None:
        """Golden samples form the fixed evaluation set and never enter training."""
        require(by, "review")
        self._sample(sample_id)
        self.store.update("samples", sample_id, {"golden": int(golden)})

    def _labels_from_model(self, sample_id: int, inspection_id: int) -> None:
        rows = self.store.query("select * from detections where inspection_id = ? and counted = 1", [inspection_id])
        for r in rows:
            polygon = tuple(map(tuple, json.loads(r["polygon"]))) if r["polygon"] else None
            self.insert(sample_id, Label(r["class_name"], Box(r["x1"], r["y1"], r["x2"], r["y2"]), polygon), "model")

    def _sample(self, sample_id: int) -> dict:
        rows = self.store.query("select * from samples where id = ?", [sample_id])
        if not rows:
            raise DataError(f"sample {sample_id} does not exist in {self.store.path}")
        return rows[0]
