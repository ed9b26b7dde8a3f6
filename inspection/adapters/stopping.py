"""Stop a long-running command that owns adapters (cameras, PLC links) the way an operator or a service
manager asks: Ctrl-C or SIGTERM. The command then closes its adapters itself, in order."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

__all__ = ["STOP_SIGNALS", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Ctrl-C, and SIGTERM: what systemd, `docker stop` and a PC shutdown send before they kill."""


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], object], signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Call `stop` on each of `signals` inside the block, the previous handlers after it.

    Python delivers signals to the main thread only; elsewhere (an embedding application, a test thread)
    nothing is installed and the caller's own handlers stay."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop()) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
