"""Runs the station on a worker thread so the console never waits on the pipeline.

Only the Station's public API is used: open / warmup / run / stop / close and `listeners`. Pause is
"stop the run, keep the station open"; resume runs again. A station that cannot open (camera missing,
model not loadable, database locked) ends in state `error` with the core's message, and the console
stays usable in a safe, stopped state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QCoreApplication

from inspection.config import StationConfig
from inspection.domain.recipe import load_recipe
from inspection.errors import StationError
from inspection.runtime.pipeline import Listener, Station

__all__ = ["RunnerState", "StationRunner"]

log = logging.getLogger(__name__)
RunnerState = str  # idle | starting | running | paused | finished | stopped | error
StateCallback = Callable[[str, str], None]


class StationRunner:
    def __init__(self, config: StationConfig, db_path: Path | None = None, recipe_path: Path | None = None,
                 listeners: list[Listener] | None = None, on_state: StateCallback | None = None,
                 on_error: Callable[[StationError | Exception], None] | None = None) -> None:
        self.config = config
        self.db_path = db_path
        self.recipe_path = recipe_path
        self.listeners = list(listeners or [])
        self.on_state = on_state or (lambda state, detail: None)
        self.on_error = on_error or (lambda exc: None)
        self.state: RunnerState = "idle"
        self.station: Station | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._resume = threading.Event()
        self._in_run = threading.Event()
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every resume: a stale pause request must not stop the new run

    # --- commands (GUI thread; none blocks) --------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                if self.state == "paused":
                    self._generation += 1
                    self._pause.clear()
                    self._resume.set()
                return
            self._stop.clear()
            self._pause.clear()
            self._resume.clear()
            self._thread = threading.Thread(target=self._main, name="station-pipeline", daemon=True)
            self._set_state("starting", QCoreApplication.translate("Runner", "opening cameras and model"))
            self._thread.start()

    def pause(self) -> None:
        if self.state in ("running", "starting"):
            self._pause.set()
            self._halt_run()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()
        self._halt_run()

    def join(self, timeout_s: float = 10.0) -> bool:
        """Wait for the worker to finish (after stop()). True when it did."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            return not thread.is_alive()
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- worker thread -----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            recipe = load_recipe(self.recipe_path) if self.recipe_path else None
            station = Station(self.config, recipe=recipe, db_path=self.db_path)
            station.listeners.extend(self.listeners)
            station.open()
        except Exception as exc:  # a station that cannot open must leave the console usable
            self._fail(exc)
            return
        self.station = station
        try:
            station.warmup()
            self._loop(station)
        except Exception as exc:
            self._fail(exc)
        finally:
            self.station = None
            try:
                station.close()
            except Exception:
                log.exception("closing the station failed")
            if self.state not in ("error", "finished"):
                self._set_state("stopped", "")

    def _loop(self, station: Station) -> None:
        while not self._stop.is_set():
            if self._pause.is_set():
                self._set_state("paused", "")
                self._resume.wait()
                self._resume.clear()
                continue
            self._set_state("running", QCoreApplication.translate("Runner", "recipe {0}").format(station.recipe.name))
            self._in_run.set()
            try:
                summary = station.run()
            finally:
                self._in_run.clear()
            if summary.fault is not None:  # the station stopped itself safely: the console shows why
                raise summary.fault
            if not (self._stop.is_set() or self._pause.is_set()):
                self._set_state("finished", QCoreApplication.translate("Runner", "source ended after {0} parts")
                                .format(summary.parts))
                return

    def _halt_run(self, give_up_s: float = 30.0) -> None:
        """Station.run() clears its stop flag when it starts, so a stop() that lands just before it would
        be lost: keep asking (off the GUI thread) until the worker is paused outside run() or has ended."""
        generation = self._generation

        def nudge() -> None:
            deadline = time.monotonic() + give_up_s
            while self.alive and time.monotonic() < deadline:
                if self.state == "paused" and not self._in_run.is_set():
                    return
                if generation != self._generation and not self._stop.is_set():
                    return  # resumed since this pause was asked for: leave the new run alone
                station = self.station
                if station is not None:
                    station.stop()
                time.sleep(0.05)
        threading.Thread(target=nudge, name="station-stopper", daemon=True).start()

    def _fail(self, exc: Exception) -> None:
        message = str(exc) if isinstance(exc, StationError) else f"{type(exc).__name__}: {exc}"
        log.warning("station stopped: %s", message)
        self._set_state("error", message)
        self.on_error(exc)

    def _set_state(self, state: RunnerState, detail: str) -> None:
        self.state = state
        self.on_state(state, detail)
