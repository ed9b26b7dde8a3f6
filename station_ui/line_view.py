"""The Line tab: every station of the line from the central store (engineers), refreshed live.

Reads through `inspection.central.fleet.fleet_status` (no SQL here) on a worker thread, so a slow or
absent database never freezes the console; the result arrives as a queued signal.
"""

from __future__ import annotations

import threading
from typing import Any

from PyQt6.QtCore import QCoreApplication, QTimer, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from inspection.central.fleet import StationStatus, fleet_status
from inspection.config import CentralConfig

__all__ = ["LineView"]

_COLUMNS = 9  # station, parts, yield, parts/min, alarms, model, recipe, last seen, health


def _columns() -> list[str]:  # literal translate() calls, so pylupdate6 finds them
    return [QCoreApplication.translate("LineView", "Station"), QCoreApplication.translate("LineView", "Parts"),
            QCoreApplication.translate("LineView", "Yield"), QCoreApplication.translate("LineView", "Parts/min"),
            QCoreApplication.translate("LineView", "Alarms"), QCoreApplication.translate("LineView", "Model"),
            QCoreApplication.translate("LineView", "Recipe"), QCoreApplication.translate("LineView", "Last seen"),
            QCoreApplication.translate("LineView", "Health")]


class LineView(QWidget):
    """A table, one row per station; `refresh()` asks the central store again (also every `interval_ms`)."""

    statusesReady = pyqtSignal(object)  # list[StationStatus] or an error message (str), from the worker

    def __init__(self, central: CentralConfig | None, interval_ms: int = 5000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.central = central
        self.statuses: list[StationStatus] = []
        self._busy = threading.Lock()
        self.message = QLabel(self.tr("no central store configured (central: in the station YAML)") if central is None
                              else self.tr("reading the central store…"))
        self.table = QTableWidget(0, _COLUMNS)
        self.table.setHorizontalHeaderLabels(_columns())
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        self.statusesReady.connect(self._show)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        if central is not None:
            self.timer.start(interval_ms)

    @property
    def configured(self) -> bool:
        return self.central is not None

    def refresh(self) -> None:
        """Ask on a worker thread; a refresh while one is running is skipped."""
        if self.central is None or not self._busy.acquire(blocking=False):
            return
        central = self.central
        threading.Thread(target=self._read, args=(central,), name="line-view", daemon=True).start()

    def _read(self, central: CentralConfig) -> None:
        try:
            result: Any = fleet_status(central.url, timeout_s=min(central.connect_timeout_s, 5.0),
                                       password_env=central.password_env)
        except Exception as exc:  # StoreError, ConfigError: shown in the tab, never raised into Qt
            result = str(exc)
        finally:
            self._busy.release()
        self.statusesReady.emit(result)

    def _show(self, result: object) -> None:
        if isinstance(result, str):
            self.message.setText(result)
            return
        assert isinstance(result, list)
        self.statuses = result
        self.message.setText(self.tr("{n} stations in the central store").format(n=len(result)))
        self.table.setRowCount(len(result))
        for row, s in enumerate(result):
            cells = (s.name, str(s.parts), f"{s.yield_pct:.1f} %" if s.yield_pct is not None else "–",
                     f"{s.parts_per_min:.1f}", "; ".join(f"{k}: {v}" for k, v in sorted(s.alarms.items())) or "0",
                     s.model_id or "–", s.recipe or "–",
                     s.last_seen.astimezone().strftime("%H:%M:%S") + ("" if s.online else self.tr(" (offline)")),
                     s.health_summary() or "–")
            colour = {"alarm": "#ff5252", "warning": "#ffd740"}.get(s.severity or "")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)  # the health text is long: the whole of it on hover
                if colour:
                    item.setForeground(QColor(colour))
                self.table.setItem(row, col, item)

    def stop(self) -> None:
        self.timer.stop()
