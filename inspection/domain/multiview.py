"""One part, several views: N cameras (top/bottom/side) or one camera at N positions see one part; the
PLC gets ONE result per part.

`MultiViewOutput` wraps the station's reject output. Every view is judged on its own as before (and logged
as its own row, with the part's identity); the wrapper groups the views of one trigger and publishes one
combined result when the last view arrives:
- grouping: the part id the line gave (`Frame.part_id`), else the trigger's sequence number — the same on
  every camera of one hardware trigger (`cameras:`), or consecutive frames of one camera (`positions:`);
- the worst view wins: ERROR (fail-safe) > FAIL > REVIEW > PASS; reasons and defects name their view;
- a view that does not arrive within `timeout_ms` of the first one is a fail-safe reject of the whole
  part (`view_missing`, with the view's name), published by the wrapper's own watchdog thread; a view
  arriving after its part was decided is counted (`late_views`) and never published.
- close(): parts still waiting are published fail-safe, never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import Field, model_validator

from inspection.config import StrictModel
from inspection.domain.types import Inspection, Reason, Verdict, VerdictStatus

__all__ = ["MultiViewOutput", "ViewsConfig", "combine"]

log = logging.getLogger(__name__)
_RANK = {VerdictStatus.PASS: 0, VerdictStatus.REVIEW: 1, VerdictStatus.FAIL: 2, VerdictStatus.ERROR: 3}


class ViewsConfig(StrictModel):
    """`views:` in a recipe: the views that make one part (give `cameras` or `positions`)."""

    cameras: list[str] | None = Field(None, min_length=2, description="camera ids, one view each (top, bottom…)")
    positions: int | None = Field(None, ge=2, le=64, description="one camera, this many consecutive frames per part")
    timeout_ms: float = Field(1000.0, gt=0, le=60_000, description="a view missing this long after the part's "
                              "first view: the part is a fail-safe reject")

    @model_validator(mode="after")
    def _one_way(self) -> ViewsConfig:
        if (self.cameras is None) == (self.positions is None):
            raise ValueError("views: give either cameras: [ids…] or positions: N")
        if self.cameras is not None and len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"views.cameras: each camera once, got {self.cameras}")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.cameras) if self.cameras else tuple(f"position {i + 1}" for i in range(self.positions or 0))


@dataclass
class _Group:
    first_s: float
    views: dict[str, Inspection] = field(default_factory=dict)


def combine(views: dict[str, Inspection], names: tuple[str, ...], timeout_ms: float | None = None) -> Inspection:
    """One result from the views of one part: worst verdict wins, a missing view is a fail-safe reject."""
    present = [n for n in names if n in views]
    base = views[present[0]]
    reasons: list[Reason] = []
    detections, defects = [], []
    worst = VerdictStatus.PASS
    failsafe = False
    for name in present:
        v = views[name]
        if _RANK[v.verdict.status] > _RANK[worst]:
            worst = v.verdict.status
        failsafe |= v.verdict.failsafe
        reasons += [replace(r, message=f"[{name}] {r.message}") for r in v.verdict.reasons]
        detections += [replace(d, attributes={**d.attributes, "view": name}) for d in v.detections]
        defects += [replace(d, attributes={**d.attributes, "view": name}) for d in v.defects]
    missing = [n for n in names if n not in views]
    if missing:
        worst, failsafe = VerdictStatus.ERROR, True
        waited = f" within {timeout_ms:g} ms" if timeout_ms is not None else ""
        reasons += [Reason("view_missing", f"view {n} did not arrive{waited}") for n in missing]
    verdict = Verdict(worst, tuple(reasons), failsafe=failsafe) if worst is not VerdictStatus.PASS \
        else Verdict.passed()
    latency = max(v.timings.latency_ms for v in views.values())
    return replace(base, detections=tuple(detections), defects=tuple(defects), verdict=verdict,
                   timings=replace(base.timings, latency_ms=latency), heatmap=None)


class MultiViewOutput:
    """A RejectOutput that publishes one combined result per part to the wrapped output."""

    def __init__(self, inner: Any, views: ViewsConfig, poll_s: float = 0.01) -> None:
        self.inner = inner
        self.views = views
        self.names = views.names
        self.published = 0
        self.late_views = 0
        self.missing_parts = 0
        self._pending: dict[str, _Group] = {}
        self._decided: dict[str, float] = {}  # recent part keys, to recognise a late view
        self._lock = threading.Lock()
        self._publish_lock = threading.Lock()  # the wrapped output is called from one thread at a time
        self._stop = threading.Event()
        self._poll_s = poll_s
        self._thread: threading.Thread | None = None
        self._counter = 0

    def __getattr__(self, name: str) -> Any:  # the wrapped output's own attributes (url, counters…)
        return getattr(self.inner, name)

    def open(self) -> None:
        self.inner.open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="multi-view-watchdog", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        with self._lock:
            left, self._pending = self._pending, {}
        for key, group in left.items():  # never dropped: the part is decided fail-safe
            self._emit(key, group, timed_out=True)
        self.inner.close()

    def _key(self, inspection: Inspection) -> tuple[str, str]:
        frame = inspection.frame
        if self.views.cameras is not None:
            if frame.camera_id not in self.names:
                return f"{frame.camera_id}#{frame.sequence}", ""  # not one of the part's views: passed through
            return (frame.part_id or f"#{frame.sequence}"), frame.camera_id
        n = len(self.names)
        if frame.part_id is not None:
            with self._lock:
                group = self._pending.get(frame.part_id)
                index = len(group.views) if group else 0
            return frame.part_id, self.names[min(index, n - 1)]
        return f"#{frame.sequence // n}", self.names[frame.sequence % n]

    def publish(self, inspection: Inspection) -> None:
        key, view = self._key(inspection)
        if not view:
            self._send(inspection)
            return
        with self._lock:
            if key in self._decided:
                self.late_views += 1
                log.warning("view %s of part %s arrived after the part was decided; not published", view, key)
                return
            group = self._pending.setdefault(key, _Group(time.monotonic()))
            group.views[view] = inspection
            complete = len(group.views) == len(self.names)
            if complete:
                del self._pending[key]
                self._decided[key] = time.monotonic()
        if complete:
            self._emit(key, group, timed_out=False)

    __call__ = publish

    def _emit(self, key: str, group: _Group, timed_out: bool) -> None:
        combined = combine(group.views, self.names, self.views.timeout_ms)
        if timed_out:
            self.missing_parts += 1
            log.error("part %s: %s", key, combined.verdict.summary)
        self._send(combined)

    def _send(self, inspection: Inspection) -> None:
        with self._publish_lock:
            self.inner.publish(inspection)
            self.published += 1

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_s):
            now = time.monotonic()
            limit = self.views.timeout_ms / 1000.0
            with self._lock:
                expired = [(k, g) for k, g in self._pending.items() if now - g.first_s > limit]
                for key, _ in expired:
                    del self._pending[key]
                    self._decided[key] = now
                for key in [k for k, t in self._decided.items() if now - t > 10 * limit + 60]:
                    del self._decided[key]
            for key, group in expired:
                try:
                    self._emit(key, group, timed_out=True)
                except Exception:  # the watchdog must survive an output error (the output alarms itself)
                    log.exception("multi-view: could not publish part %s", key)
