"""The Health tab: trend charts of the station's own health signals with their baseline, limits and
forecast, the latest warnings with cause and action, and "set baseline" at a known-good time.

Everything is computed by `inspection.health` (the monitor a `HealthListener` feeds); this only draws
it and forwards the baseline request to the core, which checks the role and audits it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from inspection.health.kinds import Severity
from inspection.health.monitor import HealthMonitor, SignalState

__all__ = ["CHARTED", "HealthView"]

CHARTED = ("sharpness", "brightness", "contrast", "offset_x", "colour_r", "top_confidence")
"""Signals with a chart (the others are listed in the text beside them)."""
_STATE_COLOURS = {None: "#69f0ae", Severity.WARNING: "#ffd740", Severity.ALARM: "#ff5252"}


def _forecast_text(state: SignalState, tr: Callable[[str], str]) -> str:
    if state.severity is Severity.ALARM:
        return tr("past its limit")
    if state.parts_to_limit is None:
        return tr("no trend towards a limit")
    text = tr("limit in about {parts} parts").format(parts=f"{state.parts_to_limit:.0f}")
    if state.seconds_to_limit is not None:
        hours = state.seconds_to_limit / 3600.0
        when = f"{hours:.1f} h" if hours >= 1 else f"{state.seconds_to_limit / 60.0:.0f} min"
        text += tr(" (~{when})").format(when=when)
    return text


class HealthView(QWidget):
    baselineRequested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None, refresh_ms: int = 2000,
                 source: Callable[[], HealthMonitor | None] | None = None) -> None:
        super().__init__(parent)
        self.monitor: HealthMonitor | None = None
        self.source = source  # the running station's monitor; the last one stays shown after a run
        self.summary = QLabel(self.tr("health: no station running"))
        self.summary.setStyleSheet("font-size: 15pt; font-weight: bold;")
        self.baseline_button = QPushButton(self.tr("Set baseline (known-good now)"))
        self.baseline_button.setToolTip(self.tr("Learn each signal's level from the recent parts; drift is judged "
                                                "against it. Engineers only; audited."))
        self.baseline_button.clicked.connect(self.baselineRequested.emit)
        self.message = QLabel("")
        top = QHBoxLayout()
        for w in (self.summary, self.baseline_button, self.message):
            top.addWidget(w)
        top.addStretch(1)
        self.plots: dict[str, pg.PlotWidget] = {}
        grid = QGridLayout()
        for i, name in enumerate(CHARTED):
            plot = pg.PlotWidget()
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("bottom", self.tr("part"))
            plot.getAxis("left").enableAutoSIPrefix(False)
            self.plots[name] = plot
            grid.addWidget(plot, i // 3, i % 3)
        self.warnings = QListWidget()
        self.warnings.setWordWrap(True)
        self.others = QLabel("")
        self.others.setWordWrap(True)
        self.others.setAlignment(Qt.AlignmentFlag.AlignTop)
        bottom = QHBoxLayout()
        bottom.addWidget(self.warnings, 3)
        bottom.addWidget(self.others, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(grid, 3)
        layout.addLayout(bottom, 1)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(refresh_ms)

    def set_monitor(self, monitor: HealthMonitor | None) -> None:
        self.monitor = monitor
        self.refresh()

    def refresh(self) -> None:
        live = self.source() if self.source is not None else None
        if live is not None:
            self.monitor = live
        monitor = self.monitor
        if monitor is None:
            return
        snapshot = monitor.snapshot()
        states = {s.name: s for s in monitor.states()}
        self.summary.setText(self.tr("health: {state} ({parts} parts)").format(
            state=snapshot["state"].upper(), parts=snapshot["parts"]))
        colour = {"alarm": "#ff5252", "warning": "#ffd740"}.get(snapshot["state"], "#69f0ae")
        self.summary.setStyleSheet(f"font-size: 15pt; font-weight: bold; color: {colour};")
        for name, plot in self.plots.items():
            self._draw(plot, states.get(name))
        self.warnings.clear()
        for w in reversed(monitor.warnings[-30:]):
            self.warnings.addItem(self.tr("part {part} {severity}: {message}").format(
                part=w.part, severity=w.severity.value.upper(), message=w.message))
        lines = [f"{s.title}: {s.smoothed:.4g} {s.unit} — {_forecast_text(s, self.tr)}"
                 for name, s in states.items() if name not in self.plots and s.smoothed is not None]
        self.others.setText("\n".join(lines))

    def _draw(self, plot: pg.PlotWidget, state: SignalState | None) -> None:
        plot.clear()
        if state is None:
            plot.setTitle(self.tr("(no data)"))
            return
        colour = _STATE_COLOURS[state.severity]
        # Two short lines: a long one-line title would set the chart's minimum width.
        plot.setTitle(f"<span style='color:{colour}'>{state.title} [{state.unit}]<br>"
                      f"<small>{_forecast_text(state, self.tr)}</small></span>")
        if state.history:
            x = np.asarray([p for p, _ in state.history], dtype=float)
            y = np.asarray([v for _, v in state.history], dtype=float)
            plot.plot(x, y, pen=pg.mkPen("#40c4ff", width=2))
            span = (x[0], x[-1]) if x.size > 1 else (x[0], x[0] + 1)
            if state.baseline is not None:
                plot.plot(span, [state.baseline] * 2, pen=pg.mkPen("#69f0ae", width=1))
            dash = pg.mkPen("#ff5252", width=1, style=Qt.PenStyle.DashLine)
            for limit in (state.low_limit, state.high_limit):
                if limit is not None:
                    plot.plot(span, [limit] * 2, pen=dash)
