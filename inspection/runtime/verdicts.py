"""How one part's outcome becomes an `Inspection`: judged, late (deadline) or fail-safe.

One definition for the concurrent runtime (`engine.Runtime`) and the straight-line path
(`pipeline.Station.inspect`), so both give the same verdict, reasons and timings for the same part.
"""

from __future__ import annotations

import time

from inspection.domain.codes import ReasonCode
from inspection.domain.judge import Judge, Judgement
from inspection.domain.types import Frame, FrameFailure, Inspection, StageTimings
from inspection.inference import DetectorOutput

__all__ = ["failsafe_inspection", "judged_inspection", "timed_judgement"]


def timed_judgement(judge: Judge, out: DetectorOutput) -> tuple[Judgement, float]:
    """The recipe's judgement of the detections and the milliseconds it took."""
    t0 = time.perf_counter()
    judgement = judge.judge(out.detections)
    return judgement, (time.perf_counter() - t0) * 1000.0


def judged_inspection(judge: Judge, frame: Frame, out: DetectorOutput, judgement: Judgement, judge_ms: float,
                      model_id: str, acquire_ms: float, late: str | None = None,
                      latency_ms: float = 0.0) -> Inspection:
    """The judged part; with `late` (why it missed the deadline) the fail-safe verdict replaces the judge's."""
    verdict = judgement.verdict if late is None else judge.failsafe(ReasonCode.DEADLINE, late)
    timings = StageTimings(acquire_ms, out.preprocess_ms, out.infer_ms, out.postprocess_ms, judge_ms, 0.0,
                           latency_ms)
    return Inspection(frame, out.detections, verdict, judgement.defects, timings, judge.recipe.name, model_id,
                      heatmap=out.heatmap)


def failsafe_inspection(judge: Judge, item: Frame | FrameFailure, code: str, message: str, model_id: str,
                        acquire_ms: float = 0.0) -> Inspection:
    """A part that could not be inspected: the recipe's fail-safe verdict, never a silent pass."""
    return Inspection(item, (), judge.failsafe(code, message), (), StageTimings(acquire_ms=acquire_ms),
                      judge.recipe.name, model_id)
