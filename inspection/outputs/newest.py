"""Newest-result-wins hand-over from the station's threads to an OPC UA server's event loop.

`offer()` never waits: while a drain is running, a newer result replaces the waiting one (counted in
`coalesced`); `drain(serve)` serves results until none waits. Used by both OPC UA result servers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable

from inspection.domain.types import Inspection

__all__ = ["NewestResult"]

log = logging.getLogger(__name__)


class NewestResult:
    def __init__(self) -> None:
        self.coalesced = 0
        self._latest: Inspection | None = None
        self._busy = False
        self._lock = threading.Lock()

    def offer(self, inspection: Inspection) -> bool:
        """Keep `inspection` as the newest; True when the caller must start a drain (none is running)."""
        with self._lock:
            if self._busy:
                self.coalesced += int(self._latest is not None)
                self._latest = inspection
                return False
            self._busy, self._latest = True, inspection
            return True

    async def drain(self, serve: Callable[[Inspection], Awaitable[None]], what: str) -> None:
        while True:
            with self._lock:
                inspection, self._latest = self._latest, None
                if inspection is None:
                    self._busy = False
                    return
            try:
                await serve(inspection)
            except Exception:
                log.exception("%s could not serve a result", what)
