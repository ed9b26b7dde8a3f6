"""Sample policy: which inspected parts the station keeps for review and retraining.

Kept: every failure, parts with a detection just below its class threshold (the model was unsure),
operator overrides, and a random sample of passes. Caps on count and megabytes keep the disk from
filling: when full, the least valuable pending samples go first. Each kept sample is a row in the
`samples` table (value, reason, review status) plus the image as PNG under the samples folder (a hard link to
the archived image when the archive already wrote it as PNG: no second encode, and either file may be deleted).
"""

from __future__ import annotations

import os
import random
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2

from inspection.config import SamplePolicy
from inspection.domain.recipe import Recipe
from inspection.domain.types import Box, Detection, Frame, Inspection, VerdictStatus
from inspection.errors import StoreError
from inspection.records.store import Store

__all__ = ["REASON_VALUE", "SampleKeeper", "SamplePolicy", "ensure_samples_table", "queue_override_sample"]

# Review value by reason: overrides (a person disagreed with the model) matter most.
REASON_VALUE = {"override": 1.0, "review": 0.9, "uncertain": 0.8, "failure": 0.5, "error": 0.4, "pass_sample": 0.1}
RECOUNT_EVERY = 100  # kept samples between two counts of the samples table (see SampleKeeper._usage)


def ensure_samples_table(store: Store) -> None:
    with store.transaction("the samples table") as db:
        db["samples"].create(
            {"id": int, "inspection_id": int, "time": str, "part_key": str, "reason": str, "value": float,
             "verdict": str, "image_path": str, "bytes": int, "status": str, "reviewed_by": str,
             "reviewed_time": str, "golden": int},
            pk="id", if_not_exists=True,
        )
        db["samples"].create_index(["status", "value"], if_not_exists=True)


def queue_override_sample(store: Store, inspection_id: int, folder: Path | None = None) -> int | None:
    """An operator overrode this part: raise its sample to the top of the review queue, or keep the part
    now from its archived image. None when the part has no image to learn from."""
    ensure_samples_table(store)
    rows = store.query("select id from samples where inspection_id = ?", [inspection_id])
    if rows:
        store.update("samples", rows[0]["id"], {"reason": "override", "value": REASON_VALUE["override"],
                                                "status": "pending"})
        return int(rows[0]["id"])
    part = store.query("select part_key, verdict, image_path from inspections where id = ?", [inspection_id])
    if not part or not part[0]["image_path"] or not Path(part[0]["image_path"]).is_file():
        return None
    source = Path(part[0]["image_path"])
    target = (folder or store.path.parent / "samples") / f"{inspection_id:09d}_override{source.suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(source, target)  # a copy: evicting the sample must never delete the archive image
    except OSError as exc:
        raise StoreError(f"cannot keep override sample {target}: {exc.strerror or exc}") from None
    return store.insert("samples", {
        "inspection_id": inspection_id, "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "part_key": part[0]["part_key"], "reason": "override", "value": REASON_VALUE["override"],
        "verdict": part[0]["verdict"], "image_path": str(target), "bytes": target.stat().st_size,
        "status": "pending", "golden": 0})


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link shares the archive's bytes (deleting either file leaves the other intact); a copy where
    links are not possible (another filesystem)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@dataclass(frozen=True, slots=True)
class Decision:
    reason: str
    value: float


class SampleKeeper:
    """Decides and stores samples. Thread-safe; called from the recorder, off the verdict path."""

    def __init__(self, store: Store, folder: Path, recipe: Recipe, policy: SamplePolicy | None = None) -> None:
        self.store = store
        self.folder = Path(folder)
        self.recipe = recipe
        self.policy = policy or SamplePolicy()
        self._random = random.Random(self.policy.seed)
        self._lock = threading.Lock()
        # (count, MB) of the samples, kept by this keeper between recounts: counting the table on every kept
        # part is a scan that grows with it. Recounted every RECOUNT_EVERY keeps for what others changed.
        self._usage: tuple[int, float] | None = None
        self._keeps_since_recount = 0
        ensure_samples_table(store)

    def decide(self, inspection: Inspection) -> Decision | None:
        status = inspection.verdict.status
        if not isinstance(inspection.frame, Frame):
            return None  # nothing to learn from a part without an image
        if status is VerdictStatus.ERROR:
            return Decision("error", REASON_VALUE["error"])
        if status is VerdictStatus.REVIEW:  # e.g. an unknown defect the anomaly model flagged: a new class?
            return Decision("review", REASON_VALUE["review"])
        margin = self._uncertainty(inspection)
        if margin is not None:
            return Decision("uncertain", REASON_VALUE["uncertain"] + 0.2 * (1.0 - margin))
        if status.rejects and self.policy.keep_failures:
            return Decision("failure", REASON_VALUE["failure"])
        if status is VerdictStatus.PASS and self._random.random() < self.policy.pass_rate:
            return Decision("pass_sample", REASON_VALUE["pass_sample"])
        return None

    def consider(self, inspection: Inspection, inspection_id: int) -> int | None:
        """Keep the part if the policy wants it; returns the sample id."""
        decision = self.decide(inspection)
        return None if decision is None else self.keep(inspection, inspection_id, decision.reason, decision.value)

    def keep(self, inspection: Inspection, inspection_id: int, reason: str, value: float) -> int:
        frame = inspection.frame
        assert isinstance(frame, Frame)
        self.folder.mkdir(parents=True, exist_ok=True)
        archived = self._archived_png(inspection_id)
        suffix = archived.suffix.lower() if archived is not None else ".png"  # the archive's lossless format
        path = self.folder / f"{inspection_id:09d}_{frame.camera_id}_{frame.sequence}{suffix}"
        if archived is None:  # PNG encoding costs ~5 ms at 320x320 and ~150 ms at 5 MP: only when not archived
            ok, data = cv2.imencode(".png", frame.image)
            if not ok:
                raise StoreError(f"cannot encode the sample image of part {frame.key}")
        with self._lock:
            try:
                if archived is None:
                    path.write_bytes(data.tobytes())
                else:
                    _link_or_copy(archived, path)
            except OSError as exc:
                path.unlink(missing_ok=True)
                raise StoreError(f"cannot keep sample {path}: {exc.strerror or exc}; free disk space") from None
            size = path.stat().st_size
            sample_id = self.store.insert("samples", {
                "inspection_id": inspection_id, "time": datetime.now(UTC).isoformat(timespec="seconds"),
                "part_key": frame.key, "reason": reason, "value": round(value, 4),
                "verdict": inspection.verdict.status.value, "image_path": str(path),
                "bytes": size, "status": "pending", "golden": 0,
            })
            self._count_kept(size)
            self._enforce_caps()
        return sample_id

    def _archived_png(self, inspection_id: int) -> Path | None:
        """The part's image as the archive already wrote it losslessly (keep_images, PNG or BMP), if it did."""
        try:
            rows = self.store.query("select image_path from inspections where id = ?", [inspection_id])
        except StoreError:  # unreadable: encode instead
            return None
        if not rows or not rows[0]["image_path"]:
            return None
        archived = Path(rows[0]["image_path"])
        return archived if archived.suffix.lower() in (".png", ".bmp") and archived.is_file() else None

    def mark_override(self, inspection_id: int, inspection: Inspection | None = None) -> None:
        """An operator overrode this part's verdict: raise its sample to the top of the queue."""
        if queue_override_sample(self.store, inspection_id, self.folder) is None and inspection is not None:
            self.keep(inspection, inspection_id, "override", REASON_VALUE["override"])

    def review_queue(self, limit: int = 100) -> list[dict[str, Any]]:
        """Pending samples, most valuable first."""
        return self.store.query(
            "select * from samples where status = 'pending' order by value desc, id desc limit ?", [limit])

    def sample(self, sample_id: int) -> dict[str, Any]:
        """One sample's row (image_path, golden, status…); StoreError when there is no such sample."""
        rows = self.store.query("select * from samples where id = ?", [sample_id])
        if not rows:
            raise StoreError(f"no sample #{sample_id} in {self.store.path}")
        return rows[0]

    def model_detections(self, sample_id: int) -> list[Detection]:
        """What the model counted on the sample's part: the starting point for relabelling."""
        rows = self.store.query(
            "select d.* from detections d join samples s on s.inspection_id = d.inspection_id "
            "where s.id = ? and d.counted = 1", [sample_id])
        return [Detection(r["class_name"], float(r["confidence"]), Box(r["x1"], r["y1"], r["x2"], r["y2"]))
                for r in rows]

    def usage(self) -> tuple[int, float]:
        row = self.store.query("select count(*) as n, coalesce(sum(bytes), 0) as b from samples")[0]
        return int(row["n"]), row["b"] / 1e6

    def _uncertainty(self, inspection: Inspection) -> float | None:
        """Smallest relative distance below threshold among uncounted detections, if within margin."""
        counted = {id(d) for d in inspection.defects}
        margins = []
        for d in inspection.detections:
            rule = self.recipe.rule_for(d.class_name)
            if id(d) in counted or rule.action == "ignore":
                continue
            gap = rule.min_confidence - d.confidence
            if 0.0 <= gap <= self.policy.uncertain_margin:
                margins.append(gap / max(self.policy.uncertain_margin, 1e-9))
        return min(margins) if margins else None

    def _count_kept(self, size: int) -> None:
        self._keeps_since_recount += 1
        if self._usage is None or self._keeps_since_recount >= RECOUNT_EVERY:
            self._usage, self._keeps_since_recount = self.usage(), 0
        else:
            self._usage = (self._usage[0] + 1, self._usage[1] + size / 1e6)

    def _enforce_caps(self) -> None:
        count, megabytes = self._usage if self._usage is not None else self.usage()
        while count > self.policy.max_samples or megabytes > self.policy.max_mb:
            victims = self.store.query(
                "select id, image_path, bytes from samples where status = 'pending' and golden = 0 "
                "order by value asc, id asc limit 1")
            if not victims:
                break  # everything left is reviewed or golden: keep it
            victim = victims[0]
            Path(victim["image_path"]).unlink(missing_ok=True)
            with self.store.transaction("a sample eviction") as db:
                db["samples"].delete(victim["id"])
            count, megabytes = count - 1, megabytes - victim["bytes"] / 1e6
        self._usage = (count, megabytes)

