"""The verdict log's writer (the runtime's recorder thread): images cost, rows never; a bounded spool.

- The image is archived first by policy (`Store.archive_image` never raises: an archive failure costs the
  image and raises one alarm with a running count).
- The row follows. When the database cannot take it (locked past its busy timeout, disk full, I/O error),
  the verdict goes to a bounded in-memory spool, one `db_unavailable` alarm is raised, and the spool is
  written, in order, as soon as the database takes rows again (the alarm then clears).
- When the spool is full the station must not go on inspecting unlogged: `stop_line` is called once (the
  runtime stops acquisition and puts the PLC outputs in their fail-safe state) and further verdicts are
  counted as not logged.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from inspection.domain.codes import AlarmKind
from inspection.domain.types import Inspection
from inspection.errors import StoreError
from inspection.records.store import KeepImages, Store

__all__ = ["Recorder"]

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, store: Store, keep_images: Callable[[], KeepImages | None],
                 recorded: Callable[[Inspection, int], None] | None,
                 alarm: Callable[[str, str], None], clear: Callable[[str, str], None],
                 stop_line: Callable[[str], None], spool_size: int = 10000, retry_s: float = 0.5) -> None:
        self.store = store
        self._keep, self._recorded = keep_images, recorded
        self._alarm, self._clear, self._stop_line = alarm, clear, stop_line
        self.spool: deque[tuple[Inspection, Path | None]] = deque()
        self.spool_size, self.retry_s = spool_size, retry_s
        self.logged = 0
        self.unlogged = 0  # verdicts that could not be logged at all (spool full, or still spooled at the end)
        self.spooled_total = 0
        self._next_try = 0.0
        self._line_stopped = False
        self.in_hand: Inspection | None = None

    def handle(self, inspection: Inspection) -> None:
        self.in_hand = inspection  # until its row is written or spooled (see Runtime._record_loop)
        image_path = self.store.archive_image(inspection, self._keep())
        if self.spool and not self.drain():
            self._to_spool(inspection, image_path)
            self.in_hand = None
            return
        try:
            row_id = self.store.record_row(inspection, image_path)
            self.in_hand = None
        except StoreError as exc:
            self.in_hand = None
            self._alarm(AlarmKind.DB_UNAVAILABLE, f"{exc}; verdicts are spooled (up to {self.spool_size}) and "
                        "written when the database is back")
            self._next_try = time.monotonic() + self.retry_s
            self._to_spool(inspection, image_path)
            return
        self._logged(inspection, row_id)

    def drain(self, force: bool = False) -> bool:
        """Write the spool, oldest first; True when it is empty. Tried at most every retry_s unless forced."""
        if not self.spool:
            return True
        if not force and time.monotonic() < self._next_try:
            return False
        while self.spool:
            inspection, image_path = self.spool[0]
            try:
                row_id = self.store.record_row(inspection, image_path)
            except StoreError:
                self._next_try = time.monotonic() + self.retry_s
                return False
            self.spool.popleft()
            self._logged(inspection, row_id)
        self._clear(AlarmKind.DB_UNAVAILABLE, f"the verdict database takes rows again; {self.spooled_total} "
                    "spooled verdict(s) written")
        return True

    def requeue(self, inspection: Inspection) -> None:
        """A verdict whose write was interrupted (the recorder stage failed): written from the spool, without
        its image (the archive may hold it; the row must not point at a file it cannot vouch for)."""
        self._next_try = time.monotonic() + self.retry_s
        self._to_spool(inspection, None)

    def finish(self, timeout_s: float) -> int:
        """At the end of a run: keep trying the spool for up to timeout_s; returns the verdicts never logged."""
        until = time.monotonic() + timeout_s
        while not self.drain(force=True) and time.monotonic() < until:
            time.sleep(min(self.retry_s, 0.1))
        self.unlogged += len(self.spool)
        self.spool.clear()
        return self.unlogged

    def _to_spool(self, inspection: Inspection, image_path: Path | None) -> None:
        if len(self.spool) < self.spool_size:
            self.spool.append((inspection, image_path))
            self.spooled_total += 1
            return
        self.unlogged += 1
        if not self._line_stopped:
            self._line_stopped = True
            self._stop_line(f"the verdict spool is full ({self.spool_size} verdicts) and the database still "
                            f"refuses rows: the line is stopped so that no part is inspected unlogged")

    def _logged(self, inspection: Inspection, row_id: int) -> None:
        self.logged += 1
        if self._recorded is not None:
            try:
                self._recorded(inspection, row_id)
            except Exception:  # telemetry and samples must never stop the recorder that logs verdicts
                log.exception("after-log hook failed for %s", inspection.frame.key)
