"""Models tab: the model registry per product, the promotion gate's decision, promote and roll back.

Display and forward only. The list is `ModelRegistry.list()`; the gate's decision for the selected model is
`inspection.decisions.approvals.gate_decision` (the registry's own gate); Promote and Roll back call
`inspection.decisions.approvals.promote_model` / `rollback_model` with the logged-in user, so the core checks the role,
writes the audit log and refuses what the gate blocks. A refusal shows the core's message unchanged.
Keys: Alt+P promote, Alt+B roll back, Alt+R refresh; the table takes ↑/↓.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, QTimer
from PyQt6.QtGui import QFont, QShowEvent
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspection.decisions.approvals import gate_decision, promote_model, rollback_model
from inspection.domain.permissions import User
from inspection.errors import StationError
from inspection.models.registry import ModelRecord, ModelRegistry
from inspection.people.audit import Operations
from station_ui.theme import show_message
from station_ui.widgets import plain_label

__all__ = ["ModelsView"]

COLUMNS = (QT_TRANSLATE_NOOP("ModelsView", "Model"), QT_TRANSLATE_NOOP("ModelsView", "State"),
           QT_TRANSLATE_NOOP("ModelsView", "Dataset version"), "mAP50", QT_TRANSLATE_NOOP("ModelsView", "Escape rate"),
           QT_TRANSLATE_NOOP("ModelsView", "False reject"), QT_TRANSLATE_NOOP("ModelsView", "Registered"))
HISTORY_COLUMNS = (QT_TRANSLATE_NOOP("ModelsView", "Time"), QT_TRANSLATE_NOOP("ModelsView", "Action"),
                   QT_TRANSLATE_NOOP("ModelsView", "Model"), QT_TRANSLATE_NOOP("ModelsView", "Previous"),
                   QT_TRANSLATE_NOOP("ModelsView", "By"))
_OK, _BAD = "#43a047", "#ef5350"


def _metric(record: ModelRecord, *keys: str) -> str:
    for key in keys:
        value = record.metrics.get(key)
        if isinstance(value, int | float):
            return f"{value:.4f}"
    return "—"


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels([QCoreApplication.translate("ModelsView", c) for c in columns])
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    return table


class ModelsView(QWidget):
    """Registered models of one product, the gate's decision for the selected one, promote / roll back."""

    def __init__(self, registry: Callable[[], ModelRegistry | None], ops: Callable[[], Operations | None],
                 user: Callable[[], User | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._registry, self._ops, self._user = registry, ops, user
        self.records: list[ModelRecord] = []
        self.status = QLabel(self.tr("Model registry: not opened yet."))
        self.status.setWordWrap(True)
        self.product = QComboBox()
        self.product.setMinimumWidth(180)
        self.product.currentIndexChanged.connect(lambda _i: self._fill())
        self.refresh_button = QPushButton(self.tr("&Refresh"))
        self.refresh_button.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Product")))
        top.addWidget(self.product)
        top.addWidget(self.refresh_button)
        top.addWidget(self.status, 1)

        self.table = _table(COLUMNS)
        self.table.itemSelectionChanged.connect(self.show_gate)
        self.gate_title = QLabel(self.tr("Promotion gate: select a model"))
        font = self.gate_title.font()
        font.setPointSize(font.pointSize() + 2)
        font.setBold(True)
        self.gate_title.setFont(font)
        self.gate_text = QLabel("")
        self.gate_text.setWordWrap(True)
        self.gate_text.setFont(QFont("monospace"))
        self.promote_button = QPushButton(self.tr("&Promote to production"))
        self.promote_button.setToolTip(
            self.tr("Promote the selected model (Alt+P); the core checks your role and the gate"))
        self.promote_button.clicked.connect(self.promote)
        self.rollback_button = QPushButton(self.tr("Roll &back to previous"))
        self.rollback_button.setToolTip(self.tr("Put back the product's previous production model (Alt+B)"))
        self.rollback_button.clicked.connect(self.rollback)
        buttons = QHBoxLayout()
        buttons.addWidget(self.promote_button)
        buttons.addWidget(self.rollback_button)
        buttons.addStretch(1)
        self.message = plain_label()  # messages quote file paths, ids and database text
        self.message.setWordWrap(True)
        self.history = _table(HISTORY_COLUMNS)

        gate_box = QWidget()
        gate_layout = QVBoxLayout(gate_box)
        gate_layout.addWidget(self.gate_title)
        gate_layout.addWidget(self.gate_text)
        gate_layout.addLayout(buttons)
        gate_layout.addWidget(self.message)
        gate_layout.addStretch(1)
        history_box = QWidget()
        history_layout = QVBoxLayout(history_box)
        history_layout.setContentsMargins(0, 0, 0, 0)
        history_layout.addWidget(QLabel(self.tr("Registry history of this product (newest first)")))
        history_layout.addWidget(self.history, 1)
        lists = QSplitter(Qt.Orientation.Vertical)
        lists.addWidget(self.table)
        lists.addWidget(history_box)
        lists.setSizes([460, 300])
        splitter = QSplitter()
        splitter.addWidget(lists)
        splitter.addWidget(gate_box)
        splitter.setSizes([820, 560])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    # --- reading the registry ---------------------------------------------------------------------

    def refresh(self, product: str | None = None) -> None:
        """Re-read the registry (also changes made by `station models …` elsewhere); keep the selection."""
        registry = self._registry()
        if registry is None:
            self.status.setText(self.tr("Model registry: none here yet. Register models with "
                                "`station models register MODEL --product P` (the station's registry folder)."))
            self.product.clear()
            self._fill()
            return
        try:
            products = sorted({r.product for r in registry.list()})
        except StationError as exc:
            self.status.setText(str(exc))
            return
        wanted = product or self.product.currentText() or None
        self.product.blockSignals(True)
        self.product.clear()
        self.product.addItems(products)
        if wanted in products:
            self.product.setCurrentText(wanted)
        self.product.blockSignals(False)
        self.status.setText(f"Registry {registry.root}: {len(products)} product(s)")
        self._fill()

    def _fill(self) -> None:
        selected = self.selected()
        registry, product = self._registry(), self.product.currentText()
        self.records = registry.list(product) if registry is not None and product else []
        self.table.setRowCount(len(self.records))
        for r, record in enumerate(self.records):
            values = (record.id, record.status, record.dataset_version or "—", _metric(record, "mAP50", "map50"),
                      _metric(record, "escape_rate"), _metric(record, "false_reject_rate"),
                      record.created[:10])
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if record.status == "production":
                    bold = item.font()
                    bold.setBold(True)
                    item.setFont(bold)
                item.setToolTip(f"{record.id}\n{record.path}\nsha256 {record.sha256}\n"
                                f"command: {record.command or '—'}")
                self.table.setItem(r, c, item)
        self._fill_history(registry, product)
        self._fit_columns()
        QTimer.singleShot(0, self._fit_columns)  # again once the new rows are laid out and polished
        ids = [r.id for r in self.records]
        if selected is not None and selected.id in ids:
            self.table.selectRow(ids.index(selected.id))
        elif self.records:  # the newest candidate is what a person usually came for
            candidates = [i for i, r in enumerate(self.records) if r.status == "candidate"]
            self.table.selectRow(candidates[-1] if candidates else len(self.records) - 1)
        else:
            self.show_gate()

    def _fill_history(self, registry: ModelRegistry | None, product: str) -> None:
        rows = list(reversed(registry.history(product))) if registry is not None and product else []
        self.history.setRowCount(len(rows))
        for r, row in enumerate(rows):
            values = (row["time"].replace("T", " ")[:16], row["action"], row["model_id"], row["previous_id"] or "",
                      row["by"] or "")
            for c, value in enumerate(values):
                self.history.setItem(r, c, QTableWidgetItem(str(value)))

    def _fit_columns(self) -> None:
        # Sized to the text each time (no stretched section: it would squeeze the model ids).
        self.table.resizeColumnsToContents()
        self.history.resizeColumnsToContents()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._fit_columns)  # fonts may have changed (theme) since the last fill

    def selected(self) -> ModelRecord | None:
        rows = self.table.selectionModel().selectedRows()
        return self.records[rows[0].row()] if rows and rows[0].row() < len(self.records) else None

    def select(self, model_id: str) -> None:
        ids = [r.id for r in self.records]
        self.table.selectRow(ids.index(model_id))

    def show_gate(self) -> None:
        """The core's gate decision for the selected model, with its reasons (nothing is decided here)."""
        record, registry = self.selected(), self._registry()
        if record is None or registry is None:
            self.gate_title.setText(self.tr("Promotion gate: select a model"))
            self.gate_text.setText("")
            return
        try:
            report = gate_decision(registry, record.id)
        except StationError as exc:
            self.gate_title.setText(f"Promotion gate: {record.id}")
            self.gate_text.setText(str(exc))
            return
        colour, verdict = (_OK, "passes the gate") if report.passed else (_BAD, "not promotable")
        self.gate_title.setText(f"<span style='color:{colour}'>{record.id} ({record.status}): {verdict}</span>")
        self.gate_text.setText(str(report))

    # --- forwarding to the core -------------------------------------------------------------------

    def promote(self) -> bool:
        record, registry, ops = self.selected(), self._registry(), self._ops()
        if registry is None or ops is None:
            return self._say("Not done: the model registry or the verdict database (audit log) is not available")
        if record is None:
            return self._say("Not done: select the model to promote")
        try:
            report = promote_model(ops, self._user(), registry, record.id)
        except StationError as exc:
            return self._say(f"Not done: {exc}")
        self.refresh(record.product)
        return self._say(f"{record.id} is now the production model of {record.product} "
                         f"(the station loads it at its next start).\n{report}", done=True)

    def rollback(self) -> bool:
        registry, ops, product = self._registry(), self._ops(), self.product.currentText()
        if registry is None or ops is None:
            return self._say("Not done: the model registry or the verdict database (audit log) is not available")
        if not product:
            return self._say("Not done: no product selected")
        try:
            restored = rollback_model(ops, self._user(), registry, product)
        except StationError as exc:
            return self._say(f"Not done: {exc}")
        self.refresh(product)
        return self._say(f"{restored.id} is the production model of {product} again "
                         "(the station loads it at its next start)", done=True)

    def _say(self, text: str, done: bool = False) -> bool:
        show_message(self.message, text, done)
        return done
