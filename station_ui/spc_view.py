"""SPC charts (pyqtgraph): p-chart with control limits, Pareto of defect classes, trend per class.

Everything is computed by `inspection.records.spc` from the verdict log; this only draws it.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from inspection.errors import StoreError
from inspection.records.spc import ClassTrend, ParetoBar, PChart, class_trends, p_chart, pareto
from inspection.records.store import Store

__all__ = ["SpcView"]

_PENS = ["#ff5252", "#ffd740", "#40c4ff", "#69f0ae", "#e040fb", "#ffab40", "#b2ff59", "#18ffff"]
_SPANS = {"last hour": 3600.0, "this shift (8 h)": 8 * 3600.0, "last 24 h": 86400.0, "all": None}


class SpcView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: Store | None = None
        self.chart: PChart | None = None
        self.bars: list[ParetoBar] = []
        self.trends: list[ClassTrend] = []
        controls = QHBoxLayout()
        self.span = QComboBox()
        self.span.addItems(list(_SPANS))
        self.span.setCurrentText("this shift (8 h)")
        self.subgroup = QSpinBox()
        self.subgroup.setRange(2, 1000)
        self.subgroup.setValue(25)
        self.subgroup.setPrefix("subgroup ")
        self.subgroup.setSuffix(" parts")
        self.refresh_button = QPushButton("Refresh (F5 in this tab)")
        self.refresh_button.clicked.connect(self.refresh)
        self.message = QLabel("")
        for w in (QLabel("Span"), self.span, self.subgroup, self.refresh_button, self.message):
            controls.addWidget(w)
        controls.addStretch(1)

        self.p_plot = pg.PlotWidget(title="p-chart: fraction of failed parts per subgroup")
        self.p_plot.setLabel("left", "failed fraction")
        self.p_plot.setLabel("bottom", "subgroup")
        self.p_plot.addLegend(offset=(10, 10))
        self.pareto_plot = pg.PlotWidget(title="Pareto of defect classes (line: cumulative share)")
        self.pareto_plot.setLabel("left", "defects")
        self.trend_plot = pg.PlotWidget(title="Defects per part, per class")
        self.trend_plot.setLabel("left", "defects / part")
        self.trend_plot.setAxisItems({"bottom": pg.DateAxisItem()})
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
        layout.addLayout(grid, 1)

    def set_store(self, store: Store | None) -> None:
        self.store = store

    def refresh(self) -> None:
        if self.store is None:
            self.message.setText("verdict database not available")
            return
        span = _SPANS[self.span.currentText()]
        since = time.time() - span if span else None
        try:
            self.chart = p_chart(self.store, self.subgroup.value(), since)
            self.bars = pareto(self.store, since)
            self.trends = class_trends(self.store, bucket_s=self._bucket_s(since), since_s=since)
        except StoreError as exc:
            self.message.setText(str(exc))
            return
        self._draw_p_chart()
        self._draw_pareto()
        self._draw_trends()
        out = len(self.chart.out_of_control) if self.chart else 0
        self.message.setText(f"{int(self.chart.n.sum()) if self.chart else 0} parts, p̄ = "
                             f"{self.chart.centre:.3f}, {out} subgroup(s) out of control")

    def _bucket_s(self, since: float | None) -> float:
        """About 24 points over the data shown, in whole minutes once the span allows it."""
        assert self.store is not None
        first_last = self.store.time_span(since or 0.0)
        span = (first_last[1] - first_last[0]) if first_last is not None else 0.0
        bucket = max(1.0, span / 24.0)
        return bucket if bucket < 60.0 else 60.0 * round(bucket / 60.0)

    def _draw_p_chart(self) -> None:
        plot, chart = self.p_plot, self.chart
        plot.clear()
        if chart is None or len(chart) == 0:
            return
        x = np.arange(len(chart))
        plot.plot(x, chart.p, pen=pg.mkPen("#40c4ff", width=2), symbol="o", symbolSize=5, name="p")
        plot.plot(x, np.full(len(chart), chart.centre), pen=pg.mkPen("#69f0ae", width=1), name="centre p̄")
        step_x = np.append(x - 0.5, x[-1] + 0.5)
        limit_pen = pg.mkPen("#ff5252", width=1, style=Qt.PenStyle.DashLine)
        plot.plot(step_x, chart.ucl, stepMode="center", pen=limit_pen, name="UCL / LCL")
        plot.plot(step_x, chart.lcl, stepMode="center", pen=limit_pen)
        out = chart.out_of_control
        if out.size:
            plot.plot(out, chart.p[out], pen=None, symbol="x", symbolSize=12, symbolBrush="#ff1744",
                      symbolPen="#ff1744", name="out of control")

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
