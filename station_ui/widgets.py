"""Display widgets of the live view: camera image with detections, verdict, counters, failures, alarms."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QFontMetricsF, QIcon, QImage, QPainter, QPen, QPixmap, QPolygonF
from PyQt6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from inspection.anomaly.overlay import blend_heatmap, heatmap_legend
from inspection.aoi.report import refdes_label
from inspection.domain.label_layout import place_labels
from inspection.domain.types import Detection, Frame, Inspection
from inspection.security.inputs import one_line

__all__ = [
    "VERDICT_COLOURS",
    "AlarmBanner",
    "CounterPanel",
    "FailureStrip",
    "FrameView",
    "Overlay",
    "VerdictIndicator",
    "overlays_of",
    "to_qimage",
]

VERDICT_COLOURS = {"PASS": "#1e9e4a", "FAIL": "#d32f2f", "ERROR": "#8e24aa", "REVIEW": "#f9a825", "": "#546e7a"}
MAX_LABELS = 40  # detections labelled in one view; the rest are boxes only
_CLASS_COLOURS = ["#ff5252", "#ffd740", "#40c4ff", "#69f0ae", "#e040fb", "#ffab40", "#b2ff59", "#18ffff"]


def shown(text: str, limit: int = 160) -> str:
    """Data for the screen (part ids, file names, messages from the log, a PLC or a model file): one line,
    control and bidi-override characters escaped (no forged lines, no "SSAP" shown as "PASS"), cut at
    `limit` characters."""
    line = one_line(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def plain_label(text: str = "") -> QLabel:
    """A label that shows data as text: Qt renders an auto-detected "<b>PASS</b>" as a bold PASS."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def plain_tooltip(text: str) -> str:
    """Tooltip text for data: tooltips detect rich text too, so it is escaped inside a rich-text paragraph."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


def to_qimage(image: np.ndarray) -> QImage:
    """A QImage that owns a copy of a BGR or mono uint8 array."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if image.ndim == 2 else QImage.Format.Format_BGR888
    return QImage(image.data, w, h, int(image.strides[0]), fmt).copy()


@dataclass(frozen=True, slots=True)
class Overlay:
    """One detection as drawn: box, optional outline, label, and whether the recipe counted it."""

    label: str
    box: tuple[float, float, float, float]
    polygon: Sequence[tuple[float, float]] | None
    counted: bool
    colour_key: str


def overlays_of(inspection: Inspection) -> list[Overlay]:
    counted = {id(d) for d in inspection.defects}
    return [Overlay(f"{refdes_label(d) or d.class_name} {d.confidence:.2f}{_size_text(d)}", d.box.as_tuple(),
                    d.polygon, id(d) in counted, d.class_name) for d in inspection.detections]


def _size_text(d: Detection) -> str:
    """The measured size beside the label: '⌀0.42 mm × 1.10 mm' (diameter, length), when the recipe measures."""
    if d.measures is None:
        return ""
    return QCoreApplication.translate("FrameView", " ⌀{0:.2f} mm, L {1:.2f} mm").format(
        d.measures.diameter_mm, d.measures.length_mm)


def _font(widget: QWidget, points: int, weight: QFont.Weight = QFont.Weight.Normal) -> QFont:
    font = QFont(widget.font())
    font.setPointSize(points)
    font.setWeight(weight)
    return font


def _colour_for(key: str) -> QColor:
    return QColor(_CLASS_COLOURS[sum(map(ord, key)) % len(_CLASS_COLOURS)])


class FrameView(QWidget):
    """An image scaled to fit, with boxes, masks and labels drawn on top (toggle with `show_overlays`) and,
    where the part has one, the anomaly model's heat map blended in (toggle with `show_heatmap`)."""

    LEGEND = (("typical", 0.0), ("threshold", 0.5), ("2×", 1.0))  # heat-map legend labels along its bar

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.image: QImage | None = None
        self.overlays: list[Overlay] = []
        self.label_rects: list[tuple[float, float, float, float]] = []  # where each overlay's label was drawn
        self.caption = ""
        self.show_overlays = True
        self.show_heatmap = False
        self.heatmap: np.ndarray | None = None
        self._pixels: np.ndarray | None = None  # the frame's own (read-only) pixels, to re-blend on toggle
        self._legend: QImage | None = None
        self.zones: list[tuple[str, np.ndarray]] = []  # the recipe's acceptance zones, image pixels
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_inspection(self, inspection: Inspection) -> None:
        frame = inspection.frame
        if isinstance(frame, Frame):
            self.set_image(frame.image, overlays_of(inspection), f"{frame.key}  {inspection.verdict.status}",
                           inspection.heatmap)
        else:  # a part whose image could not be had: keep the last image, say why
            self.caption = f"{frame.key}: no image ({frame.code})"
            self.overlays = []
            self.update()

    def set_image(self, image: np.ndarray | None, overlays: list[Overlay], caption: str = "",
                  heatmap: np.ndarray | None = None) -> None:
        self._pixels = image
        self.heatmap = heatmap if image is not None else None
        self.overlays = overlays
        self.caption = caption
        self._render()

    def set_show_overlays(self, show: bool) -> None:
        self.show_overlays = show
        self.update()

    def set_show_heatmap(self, show: bool) -> None:
        changed = show != self.show_heatmap
        self.show_heatmap = show
        if changed and self.heatmap is not None:
            self._render()

    @property
    def heatmap_shown(self) -> bool:
        return self.show_heatmap and self.heatmap is not None and self.image is not None

    def _render(self) -> None:
        """The displayed image: the frame, or the frame with its heat map (colours come from the core)."""
        if self._pixels is None:
            self.image = None
        elif self.show_heatmap and self.heatmap is not None:
            self.image = to_qimage(blend_heatmap(self._pixels, self.heatmap))
        else:
            self.image = to_qimage(self._pixels)
        self.update()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#101418"))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.image is None:
            painter.setPen(QColor("#90a4ae"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, f"{self.title}\nwaiting for parts…")
        else:
            target = self._target_rect()
            painter.drawImage(target, self.image)
            if self.show_overlays:
                self._draw_zones(painter, target)
                self._draw_overlays(painter, target)
            if self.heatmap_shown:
                self._draw_legend(painter, target)
        if self.caption or self.title:
            painter.setPen(QColor("#eceff1"))
            painter.setFont(QFont(self.font().family(), 11, QFont.Weight.Bold))
            painter.drawText(QRectF(8, 4, self.width() - 16, 24), Qt.AlignmentFlag.AlignLeft,
                             f"{self.title}   {self.caption}".strip())
        painter.end()

    def _target_rect(self) -> QRectF:
        assert self.image is not None
        scale = min(self.width() / self.image.width(), (self.height() - 28) / self.image.height())
        w, h = self.image.width() * scale, self.image.height() * scale
        return QRectF((self.width() - w) / 2, 28 + (self.height() - 28 - h) / 2, w, h)

    def _draw_legend(self, painter: QPainter, target: QRectF) -> None:
        """The heat map's fixed scale in the image's bottom-right corner: what blue, yellow and red mean."""
        width = int(min(220.0, target.width() * 0.45))
        if width < 60:
            return
        if self._legend is None or self._legend.width() != width:
            self._legend = to_qimage(heatmap_legend(width, 10))
        box = QRectF(target.right() - width - 16, target.bottom() - 40, width + 12, 34)
        painter.fillRect(box, QColor(16, 20, 24, 190))
        bar = QRectF(box.x() + 6, box.y() + 4, width, 10)
        painter.drawImage(bar, self._legend)
        painter.setPen(QColor("#eceff1"))
        painter.setFont(QFont(self.font().family(), 8))
        for text, at in self.LEGEND:
            x = bar.x() + at * bar.width()
            align = Qt.AlignmentFlag.AlignLeft if at == 0 else (
                Qt.AlignmentFlag.AlignRight if at == 1 else Qt.AlignmentFlag.AlignHCenter)
            left = x if at == 0 else (x - 80 if at == 1 else x - 40)
            painter.drawText(QRectF(left, bar.bottom() + 1, 80, 16), align | Qt.AlignmentFlag.AlignTop, text)

    def set_zones(self, zones: list[tuple[str, np.ndarray]]) -> None:
        self.zones = list(zones)
        self.update()

    def _draw_zones(self, painter: QPainter, target: QRectF) -> None:
        """Acceptance zones as thin dotted outlines with their names, under the detections."""
        if not self.zones or self.image is None:
            return
        sx, sy = target.width() / self.image.width(), target.height() / self.image.height()
        painter.setFont(QFont(self.font().family(), 9))
        painter.setPen(QPen(QColor("#b0bec5"), 1, Qt.PenStyle.DotLine))
        for name, polygon in self.zones:
            points = [QPointF(target.x() + float(x) * sx, target.y() + float(y) * sy) for x, y in polygon]
            painter.drawPolygon(QPolygonF(points))
            top_left = min(points, key=lambda p: (p.y(), p.x()))
            painter.drawText(QPointF(top_left.x() + 3, top_left.y() + 12),
                             QCoreApplication.translate("FrameView", "zone {0}").format(name))

    def _draw_overlays(self, painter: QPainter, target: QRectF) -> None:
        assert self.image is not None
        sx, sy = target.width() / self.image.width(), target.height() / self.image.height()
        font = QFont(self.font().family(), 10, QFont.Weight.Bold)
        painter.setFont(font)
        rects: list[QRectF] = []
        for ov in self.overlays:
            colour = _colour_for(ov.colour_key)
            pen = QPen(colour, 3 if ov.counted else 1, Qt.PenStyle.SolidLine if ov.counted else Qt.PenStyle.DashLine)
            painter.setPen(pen)
            x1, y1, x2, y2 = ov.box
            rect = QRectF(target.x() + x1 * sx, target.y() + y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy)
            rects.append(rect)
            if ov.polygon:
                fill = QColor(colour)
                fill.setAlpha(70)
                painter.setBrush(fill)
                painter.drawPolygon(QPolygonF([QPointF(target.x() + x * sx, target.y() + y * sy)
                                               for x, y in ov.polygon]))
                painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
        self._draw_labels(painter, target, rects, QFontMetricsF(font))

    def _draw_labels(self, painter: QPainter, target: QRectF, rects: list[QRectF], metrics: QFontMetricsF) -> None:
        """Labels after every box, placed so none covers another label or box (inspection.label_layout);
        counted defects choose first. Each on a dark plate, with a leader line when moved off its box."""
        # Placement is quadratic in the labels: 300 overlapping detections (the detector's max_det) took 18 s
        # a paint. The counted defects, then the others in the model's order, get labels up to MAX_LABELS;
        # every box is still drawn.
        order = sorted(range(len(self.overlays)), key=lambda i: not self.overlays[i].counted)[:MAX_LABELS]
        boxes = [(rects[i].x(), rects[i].y(), rects[i].width(), rects[i].height()) for i in order]
        sizes = [(metrics.horizontalAdvance(self.overlays[i].label) + 6, metrics.height() + 2) for i in order]
        bounds = (target.x(), target.y(), target.width(), target.height())
        self.label_rects = [(0.0, 0.0, 0.0, 0.0)] * len(self.overlays)
        for i, placement in zip(order, place_labels(boxes, sizes, bounds), strict=True):
            ov, box = self.overlays[i], rects[i]
            x, y, w, h = placement.rect
            self.label_rects[i] = placement.rect
            colour = _colour_for(ov.colour_key)
            if placement.detached:
                painter.setPen(QPen(colour, 1))
                painter.drawLine(QPointF(x + w / 2, y + h / 2), box.center())
            painter.fillRect(QRectF(x, y, w, h), QColor(0, 0, 0, 170))
            painter.setPen(colour)
            painter.drawText(QRectF(x, y, w, h), Qt.AlignmentFlag.AlignCenter, ov.label)


class VerdictIndicator(QLabel):
    """The last part's verdict in letters readable from a few metres."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = ""
        self.setObjectName("verdict")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(280, 150)
        self.setWordWrap(True)
        self.show_verdict("", self.tr("no part yet"))

    def show_verdict(self, status: str, detail: str = "") -> None:
        changed = status != self.status or not self.styleSheet()
        self.status = status
        text = status or "—"
        self.setText(f"<div style='font-size:72pt; font-weight:800'>{text}</div>"
                     f"<div style='font-size:14pt'>{html.escape(detail)}</div>")
        if changed:  # re-styling is not free: only when the colour changes, not on every part
            self.setStyleSheet(f"QLabel#verdict {{ background: {VERDICT_COLOURS.get(status, '#546e7a')}; "
                               "color: white; border-radius: 10px; padding: 8px; }")
            self.setAccessibleName(f"verdict {text}")

    def show_inspection(self, inspection: Inspection) -> None:
        verdict = inspection.verdict
        detail = inspection.frame.key
        if verdict.reasons:
            detail += " · " + "; ".join(r.message for r in verdict.reasons[:2])
        self.show_verdict(verdict.status.value, shown(detail, 120))


class CounterPanel(QFrame):
    FIELDS = (("inspected", QT_TRANSLATE_NOOP("CounterPanel", "Inspected")),
              ("pass", QT_TRANSLATE_NOOP("CounterPanel", "Pass")), ("fail", QT_TRANSLATE_NOOP("CounterPanel", "Fail")),
              ("error", QT_TRANSLATE_NOOP("CounterPanel", "Error")),
              ("yield_pct", QT_TRANSLATE_NOOP("CounterPanel", "Yield")),
              ("parts_per_min", QT_TRANSLATE_NOOP("CounterPanel", "Parts/min")))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("counters")
        grid = QGridLayout(self)
        self.values: dict[str, QLabel] = {}
        for i, (key, title) in enumerate(self.FIELDS):
            name = QLabel(self.tr(title))
            name.setAlignment(Qt.AlignmentFlag.AlignCenter)
            name.setFont(_font(self, 12))
            value = QLabel("0")
            value.setObjectName(f"counter_{key}")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value.setFont(_font(self, 28, QFont.Weight.Bold))
            row, col = divmod(i, 3)
            grid.addWidget(name, 2 * row, col)
            grid.addWidget(value, 2 * row + 1, col)
            self.values[key] = value
        self.update_counts({})

    def update_counts(self, snapshot: dict[str, float]) -> None:
        for key, _ in self.FIELDS:
            value = snapshot.get(key, 0)
            if key == "yield_pct":
                text = "—" if not snapshot or math.isnan(value) else f"{value:.1f} %"
            elif key == "parts_per_min":
                text = f"{value:.0f}"
            else:
                text = f"{int(value)}"
            self.values[key].setText(text)

    def text_of(self, key: str) -> str:
        return self.values[key].text()


class FailureStrip(QListWidget):
    """Thumbnails of the latest rejected parts, newest first; click one to see it in full."""

    failureClicked = pyqtSignal(object)  # Inspection

    def __init__(self, thumb_px: int = 96, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(thumb_px, thumb_px))
        self.setFixedHeight(thumb_px + 44)
        self.setMovement(QListWidget.Movement.Static)
        self.thumb_px = thumb_px
        self.inspections: list[Inspection] = []
        self._icons: dict[int, QIcon] = {}
        self.itemClicked.connect(lambda item: self.failureClicked.emit(self.inspections[self.row(item)]))
        self.itemActivated.connect(lambda item: self.failureClicked.emit(self.inspections[self.row(item)]))

    def set_failures(self, inspections: list[Inspection]) -> None:
        keep = {id(i) for i in inspections}
        self._icons = {k: v for k, v in self._icons.items() if k in keep}  # only thumbnails still shown
        self.inspections = list(inspections)
        self.clear()
        for inspection in self.inspections:
            item = QListWidgetItem(self._icon(inspection), f"{inspection.verdict.status} {inspection.frame.key}")
            item.setToolTip(plain_tooltip(inspection.verdict.summary))
            self.addItem(item)

    def _icon(self, inspection: Inspection) -> QIcon:
        icon = self._icons.get(id(inspection))
        if icon is None:
            pixmap = QPixmap(self.thumb_px, self.thumb_px)
            pixmap.fill(QColor(VERDICT_COLOURS[inspection.verdict.status.value]))
            if isinstance(inspection.frame, Frame):
                view = FrameView()
                view.resize(self.thumb_px * 2, self.thumb_px * 2)
                view.set_image(inspection.frame.image, overlays_of(inspection))
                image = view.grab().scaled(self.thumb_px, self.thumb_px, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)
                pixmap = image
            icon = self._icons[id(inspection)] = QIcon(pixmap)
        return icon


class AlarmBanner(QFrame):
    """Unacknowledged alarms, newest first; one click (or Ctrl+K) acknowledges them."""

    acknowledgeRequested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alarm")
        self.setStyleSheet("QFrame#alarm { background: #b71c1c; border-radius: 6px; } "
                           "QFrame#alarm QLabel { color: white; font-size: 14pt; font-weight: 600; }")
        layout = QHBoxLayout(self)
        self.label = plain_label()  # alarm messages quote file names, part ids and PLC texts
        self.label.setWordWrap(True)
        # A long unbreakable word (a path, a barcode) is clipped instead of widening the window past the screen.
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.button = QPushButton(self.tr("Acknowledge (Ctrl+K)"))
        self.button.clicked.connect(self.acknowledgeRequested.emit)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.alarms: dict[str, tuple[str, str, int]] = {}  # kind → (title, message, count)
        self.setVisible(False)

    def add(self, kind: str, title: str, message: str) -> None:
        count = self.alarms.pop(kind, ("", "", 0))[2] + 1
        self.alarms = {kind: (title, message, count), **self.alarms}  # newest first
        self._render()

    def clear_alarms(self) -> list[str]:
        kinds = list(self.alarms)
        self.alarms.clear()
        self._render()
        return kinds

    def _render(self) -> None:
        lines = []
        for title, message, count in list(self.alarms.values())[:3]:
            times = f" (×{count})" if count > 1 else ""
            lines.append(f"⚠ {title}{times}: {shown(message)}")
        if len(self.alarms) > 3:
            lines.append(f"… and {len(self.alarms) - 3} more")
        self.label.setText("\n".join(lines))
        self.setVisible(bool(self.alarms))


def labelled(widget: QWidget, title: str) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    caption = QLabel(title)
    caption.setFont(_font(caption, caption.font().pointSize(), QFont.Weight.DemiBold))
    layout.addWidget(caption)
    layout.addWidget(widget)
    return box
