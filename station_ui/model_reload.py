"""The console's "Reload model" action (engineers): `Station.reload_model()` on a worker thread.

The core decides: it refuses while parts are being inspected (its message is shown as it is) and, with
`model_hub:`, takes the line's production model from MLflow, verified. The console only forwards the request
and shows the answer; loading a model (or asking MLflow) never blocks the GUI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QAction

from inspection.errors import StationError
from inspection.runtime.pipeline import Station

__all__ = ["ModelReloader"]


class ModelReloader(QObject):
    """Owns the toolbar action; `reload(station)` asks the core, `done(ok, message)` reports (GUI thread)."""

    done = pyqtSignal(bool, str)

    def __init__(self, parent: QObject, notify: Callable[[str], None]) -> None:
        super().__init__(parent)
        self.action = QAction(self.tr("Reload model"), parent)
        self.action.setToolTip(self.tr("Load the recipe's model again (with the central registry: the line's "
                                       "production model); only while the line is stopped or paused"))
        self._thread: threading.Thread | None = None
        self.done.connect(lambda ok, message: (self.action.setEnabled(True), notify(message)))

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def reload(self, station: Station | None) -> None:
        if station is None:
            self.done.emit(False, self.tr("the station is not open: Start loads the recipe's current model"))
            return
        if self.busy:
            self.done.emit(False, self.tr("a model reload is already in progress"))
            return
        self.action.setEnabled(False)
        self._thread = threading.Thread(target=self._reload, args=(station,), name="model-reload", daemon=True)
        self._thread.start()

    def join(self, timeout_s: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.busy

    def _reload(self, station: Station) -> None:  # worker thread: answers through the queued signal
        try:
            model_id = station.reload_model()
        except StationError as exc:  # refused while inspecting, model unloadable, signature, MLflow …
            self.done.emit(False, self.tr("model not reloaded: {0}").format(exc))
        except Exception as exc:
            self.done.emit(False, self.tr("model not reloaded: {0}").format(f"{type(exc).__name__}: {exc}"))
        else:
            self.done.emit(True, self.tr("model reloaded: {0}").format(model_id))
