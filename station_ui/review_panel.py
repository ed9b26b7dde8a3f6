"""Review queue (engineer role): kept samples sorted by value, with accept / reject / relabel.

Keys: A accept · R reject · E edit labels (relabel) · G toggle golden · ↑/↓ move through the queue.
Every decision goes through `inspection.records.labels.LabelBook`, which checks the role and records who/when.
"""

from __future__ import annotations

from pathlib import Path

import cv2
from PyQt6.QtCore import QT_TRANSLATE_NOOP, QEvent, QObject, Qt
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspection.domain.permissions import AccessDenied, User, require
from inspection.records.labels import Label, LabelBook
from inspection.records.samples import SampleKeeper
from station_ui.label_editor import LabelEditor
from station_ui.train_dialog import TrainDialog
from station_ui.widgets import plain_label

__all__ = ["ReviewPanel"]

COLUMNS = ("id", "reason", "value", "verdict", "part_key", "time")
_HEADERS = (QT_TRANSLATE_NOOP("ReviewPanel", "id"), QT_TRANSLATE_NOOP("ReviewPanel", "reason"),
            QT_TRANSLATE_NOOP("ReviewPanel", "value"), QT_TRANSLATE_NOOP("ReviewPanel", "verdict"),
            QT_TRANSLATE_NOOP("ReviewPanel", "part key"), QT_TRANSLATE_NOOP("ReviewPanel", "time"))


class ReviewPanel(QWidget):
    def __init__(self, keeper: SampleKeeper, classes: tuple[str, ...], user: User | None,
                 parent: QWidget | None = None, base_model: Path | None = None) -> None:
        super().__init__(parent)
        self.keeper = keeper
        self.base_model = base_model  # the station's current model: retraining can continue from it
        self.book = LabelBook(keeper.store)
        self.user = user
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([self.tr(h) for h in _HEADERS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.editor = LabelEditor(classes, self._save_labels)
        self.editor.saved.connect(lambda _count: self.refresh())
        self.message = plain_label()  # messages quote file paths, ids and database text
        self.message.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.editor)
        buttons = QHBoxLayout()
        for text, slot in ((self.tr("Accept (A)"), self.accept), (self.tr("Reject (R)"), self.reject),
                           (self.tr("Relabel: save edits (Ctrl+S)"), self.editor.save),
                           (self.tr("Golden (G)"), self.toggle_golden), (self.tr("Refresh"), self.refresh),
                           (self.tr("Build dataset and train…"), self.open_training)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.stack, 1)
        right_layout.addLayout(buttons)
        right_layout.addWidget(self.message)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(right)
        splitter.setSizes([380, 700])
        QVBoxLayout(self).addWidget(splitter)
        self._keys = {Qt.Key.Key_A: self.accept, Qt.Key.Key_R: self.reject, Qt.Key.Key_G: self.toggle_golden}
        self.table.installEventFilter(self)  # the table would eat A/R/G for its type-ahead search
        self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and event.key() in self._keys:  # type: ignore[attr-defined]
            self._keys[event.key()]()  # type: ignore[attr-defined]
            return True
        return super().eventFilter(watched, event)

    def open_training(self) -> TrainDialog | None:
        """Engineers only (checked in the core); the dialog runs the CLI as child processes."""
        try:
            require(self.user, "review")
        except AccessDenied as exc:
            self.message.setText(f"Not done: {exc}")
            return None
        store_path = self.keeper.store.path
        self.train_dialog = TrainDialog(store_path, store_path.parent, self.editor.canvas.classes, self,
                                        base_model=self.base_model)
        self.train_dialog.open()
        return self.train_dialog

    def refresh(self) -> None:
        rows = self.keeper.review_queue(limit=500)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, column in enumerate(COLUMNS):
                value = row[column]
                text = f"{value:.2f}" if isinstance(value, float) else str(value)
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        if rows:
            self.table.selectRow(0)
        self.message.setText(self.tr("{0} samples waiting for review").format(len(rows)))

    def selected_sample(self) -> int | None:
        items = self.table.selectedItems()
        return int(self.table.item(items[0].row(), 0).text()) if items else None

    def accept(self) -> None:
        self._decide("accepted")

    def reject(self) -> None:
        self._decide("rejected")

    def toggle_golden(self) -> None:
        sample_id = self.selected_sample()
        if sample_id is None:
            return
        golden = self.keeper.sample(sample_id)["golden"]
        self._guard(lambda: self.book.set_golden(sample_id, self.user, not golden),  # type: ignore[arg-type]
                    f"sample {sample_id} {'removed from' if golden else 'added to'} the golden set")

    def _decide(self, decision: str) -> None:
        sample_id = self.selected_sample()
        if sample_id is None:
            return
        if self._guard(lambda: self.book.review(sample_id, decision, self.user),  # type: ignore[arg-type]
                       f"sample {sample_id} {decision}"):
            self.refresh()

    def _save_labels(self, labels: list[Label]) -> None:
        sample_id = self.selected_sample()
        if sample_id is None:
            raise ValueError("select a sample first")
        self.book.replace(sample_id, labels, self.user)  # type: ignore[arg-type]
        self.message.setText(f"sample {sample_id} relabelled with {len(labels)} labels")

    def _guard(self, action, done: str) -> bool:
        try:
            action()
        except Exception as exc:  # role refused or database problem: show it, change nothing
            self.message.setText(f"Not done: {exc}")
            return False
        self.message.setText(done)
        return True

    def _show_selected(self) -> None:
        sample_id = self.selected_sample()
        if sample_id is None:
            return
        row = self.keeper.sample(sample_id)
        image = cv2.imread(row["image_path"], cv2.IMREAD_UNCHANGED)
        if image is None:
            self.message.setText(f"image of sample {sample_id} is missing: {row['image_path']}")
            return
        labels = self.book.labels(sample_id) or self._model_labels(sample_id)
        self.editor.load(image, labels)

    def _model_labels(self, sample_id: int) -> list[Label]:
        """Before review, show what the model found as the starting point for relabelling."""
        return [Label(d.class_name, d.box) for d in self.keeper.model_detections(sample_id)]
