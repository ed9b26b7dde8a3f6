"""Shadow mode: a candidate model runs beside production on live frames, off the verdict path.

Production's verdict goes to the line as always. The shadow runner gets each inspection through a
bounded queue (full → the part is skipped for shadowing and counted, never the line stalled), runs the
candidate, judges with the same recipe, and records every disagreement in the `shadow` table for
review. Reviewed disagreements are paired evidence for promotion (McNemar test, see model_registry).
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime

from inspection.domain.judge import Judge
from inspection.domain.types import Frame, Inspection
from inspection.inference import Detector
from inspection.records.store import Store

__all__ = ["ShadowRunner", "shadow_evidence"]

log = logging.getLogger(__name__)


class ShadowRunner:
    def __init__(self, candidate: Detector, judge: Judge, store: Store, queue_size: int = 8) -> None:
        self.candidate = candidate
        self.judge = judge
        self.store = store
        self.compared = 0
        self.disagreements = 0
        self.skipped = 0
        self._queue: queue.Queue[Inspection | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._work, name="shadow", daemon=True)
        with store.transaction("the shadow table") as db:
            db["shadow"].create(
                {"id": int, "time": str, "part_key": str, "production_model": str, "candidate_model": str,
                 "production_verdict": str, "candidate_verdict": str, "candidate_reasons": str, "truth": str,
                 "reviewed_by": str}, pk="id", if_not_exists=True)

    def start(self) -> ShadowRunner:
        self._thread.start()
        return self

    def __call__(self, inspection: Inspection) -> None:
        """Station listener: hand over without waiting."""
        if not isinstance(inspection.frame, Frame):
            return
        try:
            self._queue.put_nowait(inspection)
        except queue.Full:
            self.skipped += 1

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish what is queued, then stop."""
        self._queue.put(None, timeout=timeout_s)
        self._thread.join(timeout_s)

    def _work(self) -> None:
        while (inspection := self._queue.get()) is not None:
            try:
                self._compare(inspection)
            except Exception:
                log.exception("shadow comparison failed for %s", inspection.frame.key)

    def _compare(self, inspection: Inspection) -> None:
        assert isinstance(inspection.frame, Frame)
        out = self.candidate.detect(inspection.frame)
        verdict = self.judge.judge(out.detections).verdict
        self.compared += 1
        if verdict.status == inspection.verdict.status:
            return
        self.disagreements += 1
        self.store.insert("shadow", {
            "time": datetime.now(UTC).isoformat(timespec="seconds"), "part_key": inspection.frame.key,
            "production_model": inspection.model_id, "candidate_model": self.candidate.model_id,
            "production_verdict": inspection.verdict.status.value, "candidate_verdict": verdict.status.value,
            "candidate_reasons": verdict.summary, "truth": None, "reviewed_by": None})


def shadow_evidence(store: Store, candidate_model: str) -> tuple[int, int]:
    """(only production right, only candidate right) over reviewed disagreements of one candidate."""
    rows = store.query(
        "select production_verdict, candidate_verdict, truth from shadow "
        "where candidate_model = ? and truth is not null", [candidate_model])
    production_right = sum(1 for r in rows if r["truth"] == r["production_verdict"])
    candidate_right = sum(1 for r in rows if r["truth"] == r["candidate_verdict"])
    return production_right, candidate_right
