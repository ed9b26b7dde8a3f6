"""Label editor: draw, move and delete boxes and polygons on a kept sample, set their classes.

Keys: B draw box · P draw polygon (click points, Enter or double-click to close) · V select/move ·
Del delete selected · 1–9 class of the selection (and of new labels) · +/− or wheel zoom · F fit ·
Ctrl+S save. Middle-drag or the scroll bars pan.

The editor only edits shapes; saving hands the labels to `LabelBook.replace` in the core, which checks
the user's role and records who changed what and when.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QImage, QKeySequence, QMouseEvent, QPainter, QPen, QPixmap, QPolygonF, QShortcut
from PyQt6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspection.domain.types import Box
from inspection.records.labels import Label

__all__ = ["LabelCanvas", "LabelEditor", "numpy_to_qimage"]

PALETTE = ("#ff5252", "#ffb74d", "#fff176", "#81c784", "#4fc3f7", "#9575cd", "#f06292", "#a1887f", "#e0e0e0")
CLASS_ROLE = 0  # QGraphicsItem.data key holding the class name


def numpy_to_qimage(image: np.ndarray) -> QImage:
    """uint8 HxW or HxWx3 BGR → QImage (copied, so the array may go away)."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    if image.ndim == 2:
        return QImage(image.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QImage(image.data, width, height, 3 * width, QImage.Format.Format_BGR888).copy()


class LabelCanvas(QGraphicsView):
    """The drawing surface. Coordinates of items are image pixels."""

    labels_changed = pyqtSignal()

    def __init__(self, classes: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = classes
        self.current_class = classes[0] if classes else "defect"
        self.mode = "select"
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self._pixmap: QGraphicsPixmapItem | None = None
        self._drag_start: QPointF | None = None
        self._rubber: QGraphicsRectItem | None = None
        self._points: list[QPointF] = []
        self._preview: QGraphicsPolygonItem | None = None
        self._pan_from: QPointF | None = None

    # --- content ------------------------------------------------------------------------------

    def set_image(self, image: np.ndarray) -> None:
        self.scene().clear()
        self._pixmap = self.scene().addPixmap(QPixmap.fromImage(numpy_to_qimage(image)))
        self._pixmap.setZValue(-1)
        self.setSceneRect(QRectF(self._pixmap.pixmap().rect().toRectF()))
        self.fit()

    def set_labels(self, labels: list[Label]) -> None:
        for item in self.label_items():
            self.scene().removeItem(item)
        for label in labels:
            self._add_item(label)

    def labels(self) -> list[Label]:
        return [self._to_label(item) for item in self.label_items()]

    def label_items(self) -> list[QGraphicsItem]:
        return [i for i in self.scene().items() if i.data(CLASS_ROLE) is not None]

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._cancel_polygon()
        drag = QGraphicsView.DragMode.RubberBandDrag if mode == "select" else QGraphicsView.DragMode.NoDrag
        self.setDragMode(drag)
        self.viewport().setCursor(Qt.CursorShape.ArrowCursor if mode == "select" else Qt.CursorShape.CrossCursor)

    def set_class(self, class_name: str) -> None:
        self.current_class = class_name
        for item in self.scene().selectedItems():
            if item.data(CLASS_ROLE) is not None:
                item.setData(CLASS_ROLE, class_name)
                self._style(item)
        self.labels_changed.emit()

    def delete_selected(self) -> None:
        for item in self.scene().selectedItems():
            if item.data(CLASS_ROLE) is not None:
                self.scene().removeItem(item)
        self.labels_changed.emit()

    def fit(self) -> None:
        if self._pixmap is not None:
            self.fitInView(self._pixmap, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self.scale(factor, factor)

    # --- mouse --------------------------------------------------------------------------------

    def wheelEvent(self, event) -> None:
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position()
            return
        point = self._clamp(self.mapToScene(event.position().toPoint()))
        if self.mode == "box" and event.button() == Qt.MouseButton.LeftButton:
            self._drag_start = point
            self._rubber = self.scene().addRect(QRectF(point, point), QPen(QColor("#ffffff"), 0, Qt.PenStyle.DashLine))
            return
        if self.mode == "polygon" and event.button() == Qt.MouseButton.LeftButton:
            self._points.append(point)
            self._update_preview()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            return
        if self._rubber is not None and self._drag_start is not None:
            point = self._clamp(self.mapToScene(event.position().toPoint()))
            self._rubber.setRect(QRectF(self._drag_start, point).normalized())
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = None
            return
        if self._rubber is not None:
            rect = self._rubber.rect()
            self.scene().removeItem(self._rubber)
            self._rubber, self._drag_start = None, None
            if rect.width() >= 2 and rect.height() >= 2:  # a click is not a box
                self._add_item(Label(self.current_class, Box(rect.left(), rect.top(), rect.right(), rect.bottom())))
                self.labels_changed.emit()
            return
        super().mouseReleaseEvent(event)
        if self.mode == "select":
            self.labels_changed.emit()  # items may have moved

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.mode == "polygon":
            self.close_polygon()
            return
        super().mouseDoubleClickEvent(event)

    def close_polygon(self) -> None:
        points = self._points
        self._cancel_polygon()
        if len(points) >= 3:
            xs, ys = [p.x() for p in points], [p.y() for p in points]
            polygon = tuple((p.x(), p.y()) for p in points)
            self._add_item(Label(self.current_class, Box(min(xs), min(ys), max(xs), max(ys)), polygon))
            self.labels_changed.emit()

    # --- internals ----------------------------------------------------------------------------

    def _clamp(self, point: QPointF) -> QPointF:
        rect = self.sceneRect()
        return QPointF(min(max(point.x(), rect.left()), rect.right()), min(max(point.y(), rect.top()), rect.bottom()))

    def _update_preview(self) -> None:
        if self._preview is None:
            self._preview = self.scene().addPolygon(QPolygonF(), QPen(QColor("#ffffff"), 0, Qt.PenStyle.DashLine))
        self._preview.setPolygon(QPolygonF(self._points))

    def _cancel_polygon(self) -> None:
        if self._preview is not None:
            self.scene().removeItem(self._preview)
        self._preview, self._points = None, []

    def _add_item(self, label: Label) -> QGraphicsItem:
        if label.polygon:
            item: QGraphicsItem = QGraphicsPolygonItem(QPolygonF([QPointF(x, y) for x, y in label.polygon]))
        else:
            b = label.box
            item = QGraphicsRectItem(QRectF(b.x1, b.y1, b.width, b.height))
        item.setData(CLASS_ROLE, label.class_name)
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable)
        item.setToolTip(label.class_name)
        self._style(item)
        self.scene().addItem(item)
        return item

    def _style(self, item: QGraphicsItem) -> None:
        name = item.data(CLASS_ROLE)
        index = self.classes.index(name) if name in self.classes else len(PALETTE) - 1
        colour = QColor(PALETTE[index % len(PALETTE)])
        item.setPen(QPen(colour, 2))  # type: ignore[attr-defined]
        fill = QColor(colour)
        fill.setAlpha(50)
        item.setBrush(QBrush(fill))  # type: ignore[attr-defined]
        item.setToolTip(name)

    def _to_label(self, item: QGraphicsItem) -> Label:
        offset = item.pos()
        if isinstance(item, QGraphicsPolygonItem):
            points = tuple((p.x() + offset.x(), p.y() + offset.y()) for p in item.polygon())
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            return Label(item.data(CLASS_ROLE), Box(min(xs), min(ys), max(xs), max(ys)), points)
        rect = item.rect().translated(offset)  # type: ignore[attr-defined]
        return Label(item.data(CLASS_ROLE), Box(rect.left(), rect.top(), rect.right(), rect.bottom()))


class LabelEditor(QWidget):
    """Canvas plus tool bar. `on_save(labels)` is the core command that stores them."""

    saved = pyqtSignal(int)

    def __init__(self, classes: tuple[str, ...], on_save: Callable[[list[Label]], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.on_save = on_save
        self.canvas = LabelCanvas(classes, self)
        self.class_box = QComboBox()
        self.class_box.addItems(classes)
        self.class_box.setProperty("data_items", True)  # class names: data, not console text
        self.class_box.currentTextChanged.connect(self.canvas.set_class)
        self.status = QLabel(self.tr("V select · B box · P polygon · Del delete · 1–9 class · Ctrl+S save"))
        tools = QHBoxLayout()
        for text, mode in ((self.tr("Select (V)"), "select"), (self.tr("Box (B)"), "box"),
                           (self.tr("Polygon (P)"), "polygon")):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, m=mode: self.canvas.set_mode(m))
            tools.addWidget(button)
        save = QPushButton(self.tr("Save (Ctrl+S)"))
        save.clicked.connect(self.save)
        tools.addWidget(QLabel(self.tr("Class:")))
        tools.addWidget(self.class_box)
        tools.addStretch(1)
        tools.addWidget(save)
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.status)
        self._shortcuts(classes)

    def _shortcuts(self, classes: tuple[str, ...]) -> None:
        bindings: list[tuple[str, Callable[[], None]]] = [
            ("V", lambda: self.canvas.set_mode("select")), ("B", lambda: self.canvas.set_mode("box")),
            ("P", lambda: self.canvas.set_mode("polygon")), ("Delete", self.canvas.delete_selected),
            ("Return", self.canvas.close_polygon), ("+", lambda: self.canvas.zoom(1.25)),
            ("-", lambda: self.canvas.zoom(0.8)), ("F", self.canvas.fit), ("Ctrl+S", self.save),
        ]
        bindings += [(str(i + 1), lambda n=name: self.class_box.setCurrentText(n))
                     for i, name in enumerate(classes[:9])]
        for key, action in bindings:
            QShortcut(QKeySequence(key), self, activated=action)

    def load(self, image: np.ndarray, labels: list[Label]) -> None:
        self.canvas.set_image(image)
        self.canvas.set_labels(labels)

    def save(self) -> None:
        labels = self.canvas.labels()
        try:
            self.on_save(labels)
        except Exception as exc:  # the core refused (role, database): tell the user, keep the edits
            self.status.setText(f"Not saved: {exc}")
            return
        self.status.setText(f"Saved {len(labels)} labels")
        self.saved.emit(len(labels))
