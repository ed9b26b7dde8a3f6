"""History: search the verdict log, preview a part with its detections, export CSV, override a verdict,
and (engineers) work the review queue. Queries and permission checks live in the core."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
from PyQt6.QtCore import QT_TRANSLATE_NOOP, QDateTime, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspection.domain.permissions import User
from inspection.domain.types import VerdictStatus
from inspection.errors import StationError
from inspection.people.audit import Operations, OverrideRequest
from inspection.records.history import HistoryFilter, detections_of, export_csv, search
from inspection.records.store import heatmap_path
from station_ui.views_strip import ViewsStrip
from station_ui.widgets import FrameView, Overlay, shown

__all__ = ["HistoryView", "OverrideDialog", "ReviewView"]

_COLUMNS = ("id", "time", "part", "verdict", "override", "reasons", "model")
_HEADERS = (QT_TRANSLATE_NOOP("HistoryView", "Id"), QT_TRANSLATE_NOOP("HistoryView", "Time"),
            QT_TRANSLATE_NOOP("HistoryView", "Part"), QT_TRANSLATE_NOOP("HistoryView", "Verdict"),
            QT_TRANSLATE_NOOP("HistoryView", "Override"), QT_TRANSLATE_NOOP("HistoryView", "Reasons"),
            QT_TRANSLATE_NOOP("HistoryView", "Model"))


class OverrideDialog(QDialog):
    """New verdict + a reason for the reviewer."""

    def __init__(self, part: str, current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Override verdict of {part}")
        form = QFormLayout(self)
        form.addRow(self.tr("Current verdict"), QLabel(current))
        self.verdict = QComboBox()
        self.verdict.addItems([s.value for s in VerdictStatus if s.value != current])
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText(self.tr("Why is the verdict wrong? (kept for the review queue)"))
        self.reason.setMaximumHeight(90)
        form.addRow(self.tr("New verdict"), self.verdict)
        form.addRow(self.tr("Reason"), self.reason)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class HistoryView(QWidget):
    overrideRequested = pyqtSignal(int, str, str)  # inspection id, part, current verdict
    exportRequested = pyqtSignal(object)  # Path chosen by the user

    def __init__(self, ops_provider: Callable[[], Operations | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops_provider
        self.rows: list[dict] = []
        now = QDateTime.currentDateTime()
        self.since = QDateTimeEdit(now.addSecs(-8 * 3600))
        self.until = QDateTimeEdit(now.addSecs(3600))
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.verdict = QComboBox()
        self.verdict.addItem(self.tr("any"), None)  # the filter reads the item's data, not its (translated) text
        for status in VerdictStatus:
            self.verdict.addItem(status.value, status.value)
        self.class_name = QComboBox()
        self.class_name.setEditable(True)
        self.class_name.addItem("")
        self.part = QLineEdit()
        self.part.setPlaceholderText(self.tr("part id contains…"))
        self.search_button = QPushButton(self.tr("Search"))
        self.search_button.setDefault(True)
        self.export_button = QPushButton(self.tr("Export CSV…"))
        self.override_button = QPushButton(self.tr("Override verdict…"))
        self.override_button.setEnabled(False)
        self.message = QLabel("")
        self.search_button.clicked.connect(self.refresh)
        self.part.returnPressed.connect(self.refresh)
        self.export_button.clicked.connect(self._export_dialog)
        self.override_button.clicked.connect(self._request_override)

        filters = QHBoxLayout()
        for label, widget in ((self.tr("From"), self.since), (self.tr("to"), self.until),
                              (self.tr("Verdict"), self.verdict), (self.tr("Class"), self.class_name),
                              (self.tr("Part"), self.part)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(self.search_button)
        filters.addStretch(1)
        filters.addWidget(self.export_button)
        filters.addWidget(self.override_button)

        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels([self.tr(h) for h in _HEADERS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._preview_selected)
        self.preview = FrameView("Preview")
        self.preview_text = QLabel("")
        self.preview_text.setWordWrap(True)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.preview, 1)
        right_layout.addWidget(self.preview_text)
        self.views_strip = ViewsStrip()  # a part seen by several cameras: its views side by side
        right_layout.addWidget(self.views_strip)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(right)
        splitter.setSizes([700, 400])
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)

    def current_filter(self) -> HistoryFilter:
        verdict = self.verdict.currentData()
        return HistoryFilter(
            since_s=self.since.dateTime().toSecsSinceEpoch(), until_s=self.until.dateTime().toSecsSinceEpoch(),
            verdict=None if verdict is None else VerdictStatus(verdict),
            class_name=self.class_name.currentText().strip() or None, part=self.part.text().strip() or None)

    def refresh(self) -> None:
        ops = self._ops()
        if ops is None:
            self.message.setText(self.tr("verdict database not available"))
            return
        try:
            self.rows = search(ops.store, self.current_filter())
            classes = ops.store.classes_seen()
        except (StationError, ValueError) as exc:
            self.message.setText(str(exc))
            return
        current = self.class_name.currentText()
        self.class_name.blockSignals(True)
        self.class_name.clear()
        self.class_name.addItems(["", *classes])
        self.class_name.setCurrentText(current)
        self.class_name.blockSignals(False)
        self.table.clearSelection()
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["timestamp_s"]))
            values = (row["id"], local, row["part_key"], row["verdict"],
                      row["override"] or "", "; ".join(x["message"] for x in row["reasons"]), row["model_id"])
            for c, value in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(shown(str(value), 300)))  # part ids come from outside
        self.table.resizeColumnsToContents()
        for column in range(self.table.columnCount()):  # a 100k-character part id must not push Verdict off-screen
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), 320))
        self.table.setColumnWidth(6, min(self.table.columnWidth(6), 130))  # model id: name@hash, elided
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.message.setText(self.tr("{0} part(s)").format(len(self.rows))
                             + (self.tr(" (newest 500 shown)") if len(self.rows) >= 500 else ""))
        self.override_button.setEnabled(False)

    def selected_row(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None

    def select_id(self, inspection_id: int) -> bool:
        for r, row in enumerate(self.rows):
            if row["id"] == inspection_id:
                self.table.selectRow(r)
                return True
        return False

    def _preview_selected(self) -> None:
        row = self.selected_row()
        self.override_button.setEnabled(row is not None)
        self.preview.set_image(None, [], "")  # never the previous part's image under this part's row
        self.preview_text.setText("")
        ops = self._ops()
        if row is None or ops is None:
            return
        try:
            dets = detections_of(ops.store, row["id"])
        except StationError as exc:
            self.message.setText(str(exc))
            return
        overlays = [Overlay(f"{d['class_name']} {d['confidence']:.2f}", (d["x1"], d["y1"], d["x2"], d["y2"]),
                            d["polygon"], bool(d["counted"]), str(d["class_name"])) for d in dets if d["valid"]]
        damaged = len(dets) - len(overlays)
        image = cv2.imread(row["image_path"]) if row["image_path"] and Path(row["image_path"]).is_file() else None
        heat_file = heatmap_path(row["image_path"]) if image is not None else None  # archived by anomaly models
        heat = cv2.imread(str(heat_file), cv2.IMREAD_GRAYSCALE) if heat_file and heat_file.is_file() else None
        self.preview.set_image(image, overlays, f"{row['part_key']} {row['verdict']}", heat)
        self.views_strip.show_part(ops.store, row["id"])
        note = "" if image is not None else " (image not archived — see the recipe's keep_images)"
        if damaged:
            note += f" ({damaged} detection(s) unreadable in the log, not drawn)"
        self.preview_text.setText(f"#{row['id']} {row['verdict']}{note}\n"
                                  + "\n".join(x["message"] for x in row["reasons"]))

    def _request_override(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.overrideRequested.emit(row["id"], row["part_key"], row["verdict"])

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export verdict log", "verdicts.csv", "CSV (*.csv)")
        if path:
            self.exportRequested.emit(Path(path))

    def export_to(self, path: Path, user: User | None) -> int:
        ops = self._ops()
        if ops is None:
            raise StationError("verdict database not available")
        ops.authorize(user, "export", str(path))
        count = export_csv(ops.store, path, self.current_filter())
        self.message.setText(self.tr("exported {0} part(s) to {1}").format(count, path))
        return count


class ReviewView(QWidget):
    """The queue of overrides waiting for an engineer."""

    def __init__(self, ops_provider: Callable[[], Operations | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops_provider
        self.rows: list[dict] = []
        self.table = QTableWidget(0, 7)
        self.table.setHorizontalHeaderLabels([self.tr("Override"), self.tr("Part #"), self.tr("By"), self.tr("Time"),
                                              self.tr("Was"), self.tr("Now"), self.tr("Reason")])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.note = QLineEdit()
        self.note.setPlaceholderText(self.tr("review note"))
        self.approve_button = QPushButton(self.tr("Approve"))
        self.reject_button = QPushButton(self.tr("Reject"))
        self.message = QLabel("")
        buttons = QHBoxLayout()
        for w in (self.note, self.approve_button, self.reject_button):
            buttons.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self.tr("Overrides waiting for review (engineers approve or reject)")))
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message)

    def refresh(self) -> None:
        ops = self._ops()
        if ops is None:
            return
        try:
            self.rows = ops.review_queue()
        except StationError as exc:
            self.message.setText(str(exc))
            return
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            values = (row["id"], row["inspection_id"], row["username"], row["time"][:19].replace("T", " "),
                      row["old_verdict"], row["new_verdict"], row["reason"])
            for c, value in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(str(value)))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.message.setText(self.tr("{0} waiting · checked {1}").format(len(self.rows), time.strftime("%H:%M:%S")))

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return int(self.rows[rows[0].row()]["id"]) if rows else None

    def decide(self, user: User | None, decision: str) -> None:
        ops, override_id = self._ops(), self.selected_id()
        if ops is None or override_id is None:
            return
        ops.review(user, override_id, decision, self.note.text().strip())  # type: ignore[arg-type]
        self.note.clear()
        self.refresh()


def override_request(dialog: OverrideDialog, inspection_id: int) -> OverrideRequest:
    return OverrideRequest(inspection_id, VerdictStatus(dialog.verdict.currentText()),
                           dialog.reason.toPlainText())
