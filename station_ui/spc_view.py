"""SPC charts (pyqtgraph): p- or u-chart with control limits and Nelson rules, Pareto, trend per class.

Everything is computed by `inspection.records.spc` / `inspection.records.spc_rules` from the verdict log;
this only draws it. Limits are frozen from a baseline (the span chosen when "Freeze limits" is pressed) and stored;
every
point that breaks a rule is drawn red with the rule numbers above it; time axes read as clock times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PyQt6.QtCore import QT_TRANSLATE_NOOP, Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inspection.domain.permissions import AccessDenied, User
from inspection.errors import StoreError
from inspection.people.spc_baseline import freeze_limits
from inspection.records.spc import ClassTrend, ParetoBar, PChart, class_trends, p_chart, pareto
from inspection.records.spc_rules import ChartKind, ControlChart, active_limits, attribute_chart, chart_csv
from inspection.records.spc_rules import subgroups as spc_subgroups
from inspection.records.store import Store

__all__ = ["SpcView", "TimeAxis"]


class TimeAxis(pg.DateAxisItem):
    """Clock times, never "58.000": seconds only while ticks are under a minute apart, days past a day."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        fmt = "%H:%M:%S" if spacing < 60 else "%H:%M" if spacing < 86400 else "%d %b"
        return [time.strftime(fmt, time.localtime(v)) for v in values]


_PENS = ["#ff5252", "#ffd740", "#40c4ff", "#69f0ae", "#e040fb", "#ffab40", "#b2ff59", "#18ffff"]
_SPANS = {QT_TRANSLATE_NOOP("SpcView", "last hour"): 3600.0,
          QT_TRANSLATE_NOOP("SpcView", "this shift (8 h)"): 8 * 3600.0,
          QT_TRANSLATE_NOOP("SpcView", "last 24 h"): 86400.0, QT_TRANSLATE_NOOP("SpcView", "all"): None}
_KINDS: tuple[ChartKind, ...] = ("p", "u")


class SpcView(QWidget):
    def __init__(self, parent: QWidget | None = None, user: Callable[[], User | None] | None = None) -> None:
        super().__init__(parent)
        self.store: Store | None = None
        self.chart: PChart | None = None
        self.control: ControlChart | None = None
        self.rule_labels: list[pg.TextItem] = []
        self.bars: list[ParetoBar] = []
        self.trends: list[ClassTrend] = []
        self._user = user or (lambda: None)
        controls = QHBoxLayout()
        self.span = QComboBox()
        for key in _SPANS:
            self.span.addItem(self.tr(key), key)
        self.span.setCurrentIndex(list(_SPANS).index("this shift (8 h)"))
        self.kind = QComboBox()
        self.kind.addItem(self.tr("p-chart (failed fraction)"), "p")
        self.kind.addItem(self.tr("u-chart (defects per part)"), "u")
        self.kind.currentIndexChanged.connect(lambda _i: self.refresh())
        self.subgroup = QSpinBox()
        self.subgroup.setRange(2, 1000)
        self.subgroup.setValue(25)
        self.subgroup.setPrefix(self.tr("subgroup "))
        self.subgroup.setSuffix(self.tr(" parts"))
        self.use_frozen = QCheckBox(self.tr("Frozen limits"))
        self.use_frozen.setChecked(True)
        self.use_frozen.setToolTip(self.tr("Judge the points against the limits frozen from a baseline (Phase II); "
                                       "off: limits from the data shown"))
        self.use_frozen.toggled.connect(lambda _on: self.refresh())
        self.freeze_button = QPushButton(self.tr("Freeze limits from this span"))
        self.freeze_button.setToolTip(self.tr("Phase I: compute the centre line from the span shown (the baseline) "
                                          "and keep it for every later point"))
        self.freeze_button.clicked.connect(self.freeze)
        self.refresh_button = QPushButton(self.tr("Refresh (F5 in this tab)"))
        self.refresh_button.clicked.connect(self.refresh)
        self.png_button = QPushButton(self.tr("Export PNG…"))
        self.png_button.clicked.connect(lambda: self._export("png"))
        self.csv_button = QPushButton(self.tr("Export CSV…"))
        self.csv_button.clicked.connect(lambda: self._export("csv"))
        self.message = QLabel("")
        for w in (QLabel(self.tr("Span")), self.span, self.kind, self.subgroup, self.use_frozen, self.freeze_button,
                  self.refresh_button, self.png_button, self.csv_button):
            controls.addWidget(w)
        controls.addStretch(1)

        self.p_plot = pg.PlotWidget(title=self.tr("p-chart: fraction of failed parts per subgroup"),
                                    axisItems={"bottom": TimeAxis()})
        self.p_plot.setLabel("left", self.tr("failed fraction"))
        self.p_plot.setLabel("bottom", self.tr("subgroup start"))
        self.p_plot.addLegend(offset=(10, 10))
        self.pareto_plot = pg.PlotWidget(title=self.tr("Pareto of defect classes (line: cumulative share)"))
        self.pareto_plot.setLabel("left", self.tr("defects"))
        self.trend_plot = pg.PlotWidget(title=self.tr("Defects per part, per class"))
        self.trend_plot.setLabel("left", self.tr("defects / part"))
        self.trend_plot.setAxisItems({"bottom": TimeAxis()})
        self.trend_plot.addLegend(offset=(10, 10))
        for plot in (self.p_plot, self.pareto_plot, self.trend_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.getAxis("left").enableAutoSIPrefix(False)  # fractions stay fractions, not "×0.001"

        grid = QGridLayout()
        grid.addWidget(self.p_plot, 0, 0, 1, 2)
        grid.addWidget(self.pareto_plot, 1, 0)
        grid.addWidget(self.trend_plot, 1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.message)
        layout.addLayout(grid, 1)

    def set_store(self, store: Store | None) -> None:
        self.store = store

    def _since(self) -> float | None:
        span = _SPANS[self.span.currentData() or "all"]
        return time.time() - span if span else None

    def refresh(self) -> None:
        if self.store is None:
            self.message.setText(self.tr("verdict database not available"))
            return
        since = self._since()
        kind: ChartKind = self.kind.currentData() or "p"
        try:
            self.chart = p_chart(self.store, self.subgroup.value(), since)
            limits = active_limits(self.store, kind) if self.use_frozen.isChecked() else None
            counts, n, starts = spc_subgroups(self.store, kind, self.subgroup.value(), since)
            self.control = attribute_chart(kind, counts, n, starts, limits)
            self.bars = pareto(self.store, since)
            self.trends = class_trends(self.store, bucket_s=self._bucket_s(since), since_s=since)
        except StoreError as exc:
            self.message.setText(str(exc))
            return
        self._draw_control_chart()
        self._draw_pareto()
        self._draw_trends()
        control = self.control
        out = len({v.index for v in control.violations})
        centre = (self.tr("p̄ = {0:.3f}") if kind == "p" else self.tr("ū = {0:.3f}")).format(control.centre)
        if control.limits is not None:
            source = self.tr("limits frozen {0} from {1} parts ({2} … {3})").format(
                time.strftime("%Y-%m-%d %H:%M", time.localtime(control.limits.frozen_at_s)), control.limits.parts,
                time.strftime("%m-%d %H:%M", time.localtime(control.limits.baseline_from_s)),
                time.strftime("%m-%d %H:%M", time.localtime(control.limits.baseline_to_s)))
        else:
            source = self.tr("limits from the data shown (not frozen)")
        self.message.setText(self.tr("{0} parts, {1}, {2} subgroup(s) out of control; {3}").format(
            int(control.n.sum()), centre, out, source))

    def freeze(self) -> None:
        """Phase I: freeze the limits of the chart shown from the span shown, stored in the verdict database."""
        if self.store is None:
            return
        since = self._since()
        kind: ChartKind = self.kind.currentData() or "p"
        try:
            _, _, starts = spc_subgroups(self.store, kind, self.subgroup.value(), since)
            start = float(starts[0]) if starts.size else (since or 0.0)
            freeze_limits(self.store, kind, start, time.time(), self.subgroup.value(), self._user())
        except (StoreError, AccessDenied) as exc:  # the core refuses operators and says who may
            self.message.setText(str(exc))
            return
        self.use_frozen.setChecked(True)
        self.refresh()

    def _export(self, fmt: str) -> None:
        name = "spc_chart." + fmt
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Export chart"), name,
                                              "PNG (*.png)" if fmt == "png" else "CSV (*.csv)")
        if path:
            (self.export_png if fmt == "png" else self.export_csv)(Path(path))

    def export_png(self, path: Path) -> Path:
        """The control chart as drawn, as a PNG image."""
        exporter = pyqtgraph.exporters.ImageExporter(self.p_plot.getPlotItem())
        exporter.parameters()["width"] = max(800, self.p_plot.width())
        exporter.export(str(path))
        return Path(path)

    def export_csv(self, path: Path) -> Path:
        """The control chart's points, limits and fired rules, as CSV."""
        if self.control is None:
            self.refresh()
        if self.control is None:
            raise StoreError("no chart to export: the verdict database is not available")
        return chart_csv(self.control, path)

    def _bucket_s(self, since: float | None) -> float:
        """About 24 points over the data shown, in whole minutes once the span allows it."""
        assert self.store is not None
        first_last = self.store.time_span(since or 0.0)
        span = (first_last[1] - first_last[0]) if first_last is not None else 0.0
        bucket = max(1.0, span / 24.0)
        return bucket if bucket < 60.0 else 60.0 * round(bucket / 60.0)

    def _draw_control_chart(self) -> None:
        plot, chart = self.p_plot, self.control
        plot.clear()
        self.rule_labels = []
        if chart is None:
            return
        kind = chart.kind
        plot.setTitle(self.tr("p-chart: fraction of failed parts per subgroup") if kind == "p"
                      else self.tr("u-chart: counted defects per part, per subgroup"))
        plot.setLabel("left", self.tr("failed fraction") if kind == "p" else self.tr("defects / part"))
        if len(chart) == 0:
            return
        x = chart.start_s
        width = float(np.median(np.diff(x))) if len(chart) > 1 else 60.0
        plot.plot(x, chart.value, pen=pg.mkPen("#40c4ff", width=2), symbol="o", symbolSize=5, name=kind)
        plot.plot(x, np.full(len(chart), chart.centre), pen=pg.mkPen("#69f0ae", width=1),
                  name=self.tr("centre p̄") if kind == "p" else self.tr("centre ū"))
        step_x = np.append(x - width / 2, x[-1] + width / 2)
        limit_pen = pg.mkPen("#ff5252", width=1, style=Qt.PenStyle.DashLine)
        plot.plot(step_x, chart.ucl, stepMode="center", pen=limit_pen, name=self.tr("UCL / LCL"))
        plot.plot(step_x, chart.lcl, stepMode="center", pen=limit_pen)
        fired = sorted({v.index for v in chart.violations})
        if fired:
            plot.plot(x[fired], chart.value[fired], pen=None, symbol="x", symbolSize=13, symbolBrush="#ff1744",
                      symbolPen="#ff1744", name=self.tr("rule broken (Nelson 1–8)"))
            for i in fired:
                rules = chart.rules_at(i)
                # A run keeps firing its rule on every later point: name a rule where it starts (rule 1 on
                # every point beyond the limits), so consecutive labels do not print over each other.
                before = chart.rules_at(i - 1) if i > 0 else []
                new = [r for r in rules if r == 1 or r not in before]
                if not new:
                    continue
                label = pg.TextItem(",".join(map(str, new)), color="#ff1744", anchor=(0.5, 1.2))
                label.setToolTip(self.tr("Nelson rules broken here: {0}").format(", ".join(map(str, rules))))
                label.setPos(float(x[i]), float(chart.value[i]))
                plot.addItem(label)
                self.rule_labels.append(label)
        plot.setXRange(float(x[0]) - width, float(x[-1]) + width, padding=0.02)

    def _draw_pareto(self) -> None:
        plot = self.pareto_plot
        plot.clear()
        if not self.bars:
            return
        x = np.arange(len(self.bars))
        counts = np.array([b.count for b in self.bars], dtype=float)
        plot.addItem(pg.BarGraphItem(x=x, height=counts, width=0.6, brush="#ffab40"))
        cumulative = np.array([b.cumulative_pct for b in self.bars]) * counts.max() / 100.0
        plot.plot(x, cumulative, pen=pg.mkPen("#40c4ff", width=2), symbol="o", symbolSize=5)
        plot.getAxis("bottom").setTicks([[(i, b.class_name) for i, b in enumerate(self.bars)]])

    def _draw_trends(self) -> None:
        plot = self.trend_plot
        plot.clear()
        for i, trend in enumerate(self.trends):
            plot.plot(trend.bucket_start_s, trend.defects_per_part, pen=pg.mkPen(_PENS[i % len(_PENS)], width=2),
                      symbol="o", symbolSize=4, name=trend.class_name)
        top = max((float(t.defects_per_part.max()) for t in self.trends if t.defects_per_part.size), default=0.0)
        plot.setYRange(0.0, top * 1.4 if top > 0 else 1.0)  # from zero, with room for the legend
        starts = [float(t.bucket_start_s[0]) for t in self.trends if t.bucket_start_s.size]
        ends = [float(t.bucket_start_s[-1]) for t in self.trends if t.bucket_start_s.size]
        if starts:  # at least two minutes wide: a few seconds of data would tick in fractions of a second
            mid, half = (min(starts) + max(ends)) / 2, max(60.0, (max(ends) - min(starts)) / 2)
            plot.setXRange(mid - half, mid + half, padding=0.05)
