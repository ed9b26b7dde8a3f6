"""The views of the newest multi-view part, for a live display (the console's Live tab).

Groups the per-view inspections exactly as `multiview.MultiViewOutput` does for the PLC (the part id the
line gave, else the trigger's sequence number; one camera at N positions: N consecutive frames) and keeps
the few most recent parts, so a view that arrives after the next part began still lands in its own part.
`add` is called on the pipeline's thread (O(1), no copies); `newest` from any other thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from inspection.domain.multiview import ViewsConfig, combine
from inspection.domain.types import Frame, FrameFailure, Inspection

__all__ = ["NewestPart", "PartSnapshot"]


@dataclass(frozen=True, slots=True)
class PartSnapshot:
    """One part: its key, each view by name in the recipe's order (None: not arrived yet), and — once every
    view is there — the combined result the PLC got (worst view wins)."""

    key: str
    views: tuple[tuple[str, Inspection | None], ...]
    combined: Inspection | None
    version: int  # grows with every view added: a display redraws only when it changed

    @property
    def arrived(self) -> int:
        return sum(v is not None for _, v in self.views)


class NewestPart:
    def __init__(self, views: ViewsConfig, keep: int = 4) -> None:
        self.config = views
        self.names = views.names
        self._keep = max(2, keep)
        self._parts: dict[str, dict[str, Inspection]] = {}  # insertion order: oldest part first
        self._lock = threading.Lock()
        self._version = 0

    def _key(self, frame: Frame | FrameFailure) -> tuple[str, str]:
        part_id = getattr(frame, "part_id", None)
        if self.config.cameras is not None:
            if frame.camera_id not in self.names:
                return "", ""  # not one of the part's views
            return (part_id or f"#{frame.sequence}"), frame.camera_id
        n = len(self.names)
        if part_id is not None:  # one camera at N positions of a named part: in arrival order
            index = len(self._parts.get(part_id, {}))
            return part_id, self.names[min(index, n - 1)]
        return f"#{frame.sequence // n}", self.names[frame.sequence % n]

    def add(self, inspection: Inspection) -> None:
        with self._lock:
            key, view = self._key(inspection.frame)
            if not view:
                return
            part = self._parts.get(key)
            if part is None:
                part = self._parts[key] = {}
                while len(self._parts) > self._keep:
                    del self._parts[next(iter(self._parts))]
            part[view] = inspection
            self._version += 1

    def newest(self) -> PartSnapshot | None:
        with self._lock:
            if not self._parts:
                return None
            key = next(reversed(self._parts))
            part = dict(self._parts[key])
            version = self._version
        combined = combine(part, self.names, self.config.timeout_ms) if len(part) == len(self.names) else None
        return PartSnapshot(key, tuple((n, part.get(n)) for n in self.names), combined, version)
