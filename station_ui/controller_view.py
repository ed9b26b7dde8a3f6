"""Controller panel: process parameters in force, proposals waiting for approval, history of changes.

Read-only: it reads the process controller's tables (`process_parts`, `process_changes`, written by
inspection/process/ into the same SQLite file) and the store's controller events. Approving a proposal
is done where the live controller runs; when there is none yet, the panel says so.
"""

from __future__ import annotations

import json
import time
from typing import Any

from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspection.errors import StationError
from inspection.store import Store

__all__ = ["ControllerView", "pending_proposals"]

_COLUMNS = ("#", "Created", "Kind", "Status", "Changes", "Why", "Approver")


def _has_table(store: Store, name: str) -> bool:
    return bool(store.query("select 1 from sqlite_master where type = 'table' and name = ?", [name]))


def pending_proposals(store: Store) -> int:
    """Number of controller proposals waiting for approval (0 when the controller never ran here)."""
    if not _has_table(store, "process_changes"):
        return 0
    return int(store.query("select count(*) as n from process_changes where status = 'pending'")[0]["n"])


def _changes_text(raw: str | None) -> str:
    try:
        changes = json.loads(raw or "[]")
    except ValueError:
        return str(raw)
    return ", ".join(f"{c['parameter']} {c['before']:g} → {c['after']:g}" for c in changes)


class ControllerView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: Store | None = None
        self.proposals: list[dict[str, Any]] = []
        self.status = QLabel("Process controller: no data yet.")
        self.status.setWordWrap(True)
        self.parameters = QLabel("Parameters in force: —")
        font = self.parameters.font()
        font.setPointSize(font.pointSize() + 3)
        self.parameters.setFont(font)
        self.pending_label = QLabel("Proposals waiting for approval: 0")
        self.pending = self._table()
        self.history = self._table()
        layout = QVBoxLayout(self)
        for w in (self.status, self.parameters, self.pending_label):
            layout.addWidget(w)
        layout.addWidget(self.pending, 1)
        layout.addWidget(QLabel("History of changes"))
        layout.addWidget(self.history, 2)

    @staticmethod
    def _table() -> QTableWidget:
        table = QTableWidget(0, len(_COLUMNS))
        table.setHorizontalHeaderLabels(list(_COLUMNS))
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        return table

    def set_store(self, store: Store | None) -> None:
        self.store = store

    def refresh(self) -> None:
        if self.store is None:
            self.status.setText("Process controller: verdict database not available.")
            return
        try:
            if not _has_table(self.store, "process_changes"):
                self.status.setText("Process controller: not running on this station (no process tables in "
                                    "the log). Start it with `station controller`.")
                return
            self.proposals = self.store.query("select * from process_changes order by id desc limit 500")
            params = self.store.query("select parameters from process_parts where parameters is not null "
                                      "order by id desc limit 1") if _has_table(self.store, "process_parts") else []
        except StationError as exc:
            self.status.setText(str(exc))
            return
        if params:
            values = json.loads(params[0]["parameters"])
            self.parameters.setText("Parameters in force: " + ",  ".join(f"{k} = {v:g}" for k, v in values.items()))
        waiting = [p for p in self.proposals if p["status"] == "pending"]
        self.pending_label.setText(f"Proposals waiting for approval: {len(waiting)} (approve them in the "
                                   "controller: `station controller`)")
        self._fill(self.pending, waiting)
        self._fill(self.history, [p for p in self.proposals if p["status"] != "pending"])
        self.status.setText(f"Process controller: {len(self.proposals)} proposal(s) logged (read-only view).")

    @staticmethod
    def _fill(table: QTableWidget, rows: list[dict[str, Any]]) -> None:
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created_s"] or 0))
            values = (row["id"], created, row["kind"], row["status"], _changes_text(row["changes"]),
                      row["reason"] or row["error"] or "", row["approver"] or "")
            for c, value in enumerate(values):
                table.setItem(r, c, QTableWidgetItem(str(value)))
