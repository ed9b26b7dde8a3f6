"""Controller panel: process parameters in force, proposals waiting for approval, history of changes.

It reads the process controller's tables (`process_parts`, `process_changes`, written by inspection/process/
into the same SQLite file). Approve / Reject (pending proposals) and Revert (an applied change) are
forwarded to the live controller of the station this console runs (`Station.feedback.controller`, there
while the station is running or paused with a `process:` section) through
`inspection.decisions.approvals.decide_proposal` with the logged-in user: the core checks the role (`controller`:
engineers), writes the audit log and refuses what is not allowed; the panel shows the core's message.
Keys: Alt+A approve, Alt+J reject, Alt+V revert (tables take ↑/↓, Tab moves between them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspection.decisions.approvals import decide_proposal
from inspection.domain.permissions import User
from inspection.errors import StationError
from inspection.people.audit import Operations
from inspection.process.store import parameters_in_force, recent_proposals
from inspection.records.store import Store
from station_ui.theme import show_message
from station_ui.widgets import plain_label

if TYPE_CHECKING:
    from inspection.process.controller import Controller

__all__ = ["ControllerView"]

_COLUMNS = ("#", QT_TRANSLATE_NOOP("ControllerView", "Created"), QT_TRANSLATE_NOOP("ControllerView", "Kind"),
            QT_TRANSLATE_NOOP("ControllerView", "Status"), QT_TRANSLATE_NOOP("ControllerView", "Changes"),
            QT_TRANSLATE_NOOP("ControllerView", "Why"), QT_TRANSLATE_NOOP("ControllerView", "Approver"))
NO_CONTROLLER = ("no live controller in this console: start the station with a `process:` section (approve while it "
                 "runs or is paused), or use `station controller approve|reject|revert ID --db …`")


def _changes_text(raw: str | None) -> str:
    try:
        changes = json.loads(raw or "[]")
    except ValueError:
        return str(raw)
    return ", ".join(f"{c['parameter']} {c['before']:g} → {c['after']:g}" for c in changes)


class ControllerView(QWidget):
    def __init__(self, parent: QWidget | None = None, *, controller: Callable[[], Controller | None] | None = None,
                 ops: Callable[[], Operations | None] | None = None,
                 user: Callable[[], User | None] | None = None) -> None:
        super().__init__(parent)
        self.store: Store | None = None
        self.controller_source = controller or (lambda: None)  # the live controller, or None
        self._ops = ops or (lambda: None)
        self._user = user or (lambda: None)
        self.proposals: list[dict[str, Any]] = []
        self.pending_rows: list[dict[str, Any]] = []
        self.history_rows: list[dict[str, Any]] = []
        self.status = QLabel(self.tr("Process controller: no data yet."))
        self.status.setWordWrap(True)
        self.parameters = QLabel(self.tr("Parameters in force: —"))
        font = self.parameters.font()
        font.setPointSize(font.pointSize() + 3)
        self.parameters.setFont(font)
        self.parameters.setWordWrap(True)  # many parameters must not widen the window
        self.pending_label = QLabel(self.tr("Proposals waiting for approval: 0"))
        self.pending = self._table()
        self.history = self._table()
        self.reason = QLineEdit()
        self.reason.setPlaceholderText(self.tr("reason (recorded with a rejection)"))
        self.approve_button = QPushButton(self.tr("&Approve (apply)"))
        self.approve_button.setToolTip(self.tr("Apply the selected proposal to the process (Alt+A); engineers"))
        self.approve_button.clicked.connect(lambda: self.decide("approve"))
        self.reject_button = QPushButton(self.tr("Re&ject"))
        self.reject_button.setToolTip(self.tr("Reject the selected proposal, nothing is written (Alt+J); engineers"))
        self.reject_button.clicked.connect(lambda: self.decide("reject"))
        self.revert_button = QPushButton(self.tr("Re&vert selected change"))
        self.revert_button.setToolTip(self.tr("Write back the values an applied change replaced (Alt+V); engineers"))
        self.revert_button.clicked.connect(lambda: self.decide("revert"))
        self.message = plain_label()  # messages quote file paths, ids and database text
        self.message.setWordWrap(True)
        decide_row = QHBoxLayout()
        decide_row.addWidget(self.reason, 1)
        decide_row.addWidget(self.approve_button)
        decide_row.addWidget(self.reject_button)
        revert_row = QHBoxLayout()
        revert_row.addWidget(QLabel(self.tr("History of changes")), 1)
        revert_row.addWidget(self.revert_button)
        layout = QVBoxLayout(self)
        for w in (self.status, self.parameters, self.pending_label):
            layout.addWidget(w)
        layout.addWidget(self.pending, 1)
        layout.addLayout(decide_row)
        layout.addWidget(self.message)
        layout.addLayout(revert_row)
        layout.addWidget(self.history, 2)

    @staticmethod
    def _table() -> QTableWidget:
        table = QTableWidget(0, len(_COLUMNS))
        table.setHorizontalHeaderLabels([QCoreApplication.translate("ControllerView", c) for c in _COLUMNS])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        return table

    def set_store(self, store: Store | None) -> None:
        self.store = store

    def refresh(self) -> None:
        if self.store is None:
            self.status.setText(self.tr("Process controller: verdict database not available."))
            return
        try:
            proposals = recent_proposals(self.store)
            if proposals is None:
                self.status.setText(self.tr("Process controller: not running on this station (no process tables in "
                                    "the log). Start it with `station controller`."))
                return
            self.proposals = proposals
            values = parameters_in_force(self.store)
        except StationError as exc:
            self.status.setText(str(exc))
            return
        if values:
            self.parameters.setText(self.tr("Parameters in force: ")
                                    + ",  ".join(f"{k} = {v:g}" for k, v in values.items()))
        self.pending_rows = [p for p in self.proposals if p["status"] == "pending"]
        self.history_rows = [p for p in self.proposals if p["status"] != "pending"]
        self.pending_label.setText(f"Proposals waiting for approval: {len(self.pending_rows)} (select one, then "
                                   "Approve or Reject)")
        self._fill(self.pending, self.pending_rows)
        self._fill(self.history, self.history_rows)
        if self.pending_rows:
            self.pending.selectRow(0)
        live = self.controller_source()
        if live is None:
            self.status.setText(f"Process controller: {len(self.proposals)} proposal(s) logged; {NO_CONTROLLER}.")
        else:
            doubt = f" (in doubt: {live.doubt})" if live.doubt else ""
            self.status.setText(f"Process controller {live.config.process}: live, mode {live.effective_mode}{doubt}; "
                                f"{len(self.proposals)} proposal(s) logged.")

    @staticmethod
    def _fill(table: QTableWidget, rows: list[dict[str, Any]]) -> None:
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created_s"] or 0))
            values = (row["id"], created, row["kind"], row["status"], _changes_text(row["changes"]),
                      row["reason"] or row["error"] or "", row["approver"] or "")
            for c, value in enumerate(values):
                table.setItem(r, c, QTableWidgetItem(str(value)))
        table.resizeColumnsToContents()
        table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)

    @staticmethod
    def _selected(table: QTableWidget, rows: list[dict[str, Any]]) -> int | None:
        chosen = table.selectionModel().selectedRows()
        return int(rows[chosen[0].row()]["id"]) if chosen and chosen[0].row() < len(rows) else None

    def decide(self, decision: str) -> bool:
        """Forward Approve / Reject (selected pending proposal) or Revert (selected change) to the core."""
        table, rows = (self.history, self.history_rows) if decision == "revert" else (self.pending, self.pending_rows)
        proposal_id = self._selected(table, rows)
        controller, ops = self.controller_source(), self._ops()
        if proposal_id is None:
            where = "an applied change in the history" if decision == "revert" else "a pending proposal"
            return self._say(f"Not done: select {where} first")
        if controller is None or ops is None:
            return self._say(f"Not done: {NO_CONTROLLER if controller is None else 'verdict database unavailable'}")
        try:
            done = decide_proposal(ops, self._user(), controller, proposal_id, decision,  # type: ignore[arg-type]
                                   self.reason.text().strip())
        except StationError as exc:
            self.refresh()  # a failed write is recorded as failed: show it
            return self._say(f"Not done: {exc}")
        self.reason.clear()
        self.refresh()
        changes = ", ".join(f"{c.parameter} {c.before:g} → {c.after:g}" for c in done.changes)
        text = {"approve": f"#{done.id} applied by {done.approver}: {changes}",
                "reject": f"#{done.id} rejected by {done.approver}",
                "revert": f"#{done.id} reverts #{proposal_id}: {changes}"}[decision]
        return self._say(text, done=True)

    def _say(self, text: str, done: bool = False) -> bool:
        show_message(self.message, text, done)
        return done
