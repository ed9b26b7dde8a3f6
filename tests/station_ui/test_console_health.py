"""The Health tab: charts, forecast and warnings follow a real monitor; the baseline button goes through
the core's role check and audit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspection.config import StationConfig
from inspection.domain.permissions import Role, User
from inspection.health.monitor import HealthConfig, HealthMonitor
from inspection.records.store import Store
from station_ui.health_view import HealthView

pytestmark = pytest.mark.ui


def _defocusing_monitor() -> HealthMonitor:
    rng = np.random.default_rng(0)
    monitor = HealthMonitor(HealthConfig(learn_parts=200))
    for i in range(2500):
        fall = 0.999 ** max(i - 800, 0)
        monitor.update({"sharpness": 400.0 * fall * float(np.exp(rng.normal(0, 0.2))),
                        "brightness": rng.normal(120, 5), "cpu_pct": rng.normal(30, 3)}, i, 1000.0 + i)
    return monitor


def test_the_tab_draws_trends_limits_forecast_and_warnings(qtbot) -> None:
    view = HealthView(refresh_ms=50)
    qtbot.addWidget(view)
    view.show()
    monitor = _defocusing_monitor()
    view.set_monitor(monitor)
    assert view.summary.text().startswith("health: ALARM")
    sharp = view.plots["sharpness"]
    curves = sharp.getPlotItem().listDataItems()
    assert len(curves) == 4  # trend, baseline, low limit (focus) and high limit (appearance: new texture)
    trend = curves[0].getData()[1]
    assert trend[-1] < trend[0] * 0.5  # the drawn trend is the monitor's, falling past half
    assert "past its limit" in sharp.getPlotItem().titleLabel.text
    assert view.warnings.count() >= 2
    texts = [view.warnings.item(i).text() for i in range(view.warnings.count())]
    assert any("WARNING" in t and "refocus" in t for t in texts)
    assert "CPU" in view.others.text()  # signals without a chart are listed with their forecast
    assert view.plots["offset_x"].getPlotItem().titleLabel.text == "(no data)"


def test_the_baseline_button_is_role_checked_and_audited_by_the_core(qtbot, make_window,
                                                                    console_config: StationConfig,
                                                                    tmp_path: Path) -> None:
    db = tmp_path / "station.db"
    window = make_window(console_config, db)  # the default line operator
    window.health._timer.setInterval(20)  # the tab follows the running station's monitor
    window.start()
    qtbot.waitUntil(lambda: window.state in ("finished", "error"), timeout=120_000)
    qtbot.waitUntil(lambda: window.health.monitor is not None and window.health.monitor.parts > 0, timeout=10_000)
    assert "LEARNING" in window.health.summary.text()  # a new station learns its baseline from its first parts
    window.health.baseline_button.click()
    assert "needs an engineer" in window.last_message
    window.set_user(User("qe.anna", Role.ENGINEER))
    window.health.baseline_button.click()  # the line has stopped: from the stored samples, too few of them
    assert "at least 30 parts" in window.last_message
    with Store(db) as store:
        rows = store.query("select username, allowed from audit where action = 'configure'")
        assert store.query("select count(*) as n from health")[0]["n"] >= 1  # the station logged health samples
        assert store.query("select count(*) as n from health_baseline")[0]["n"] == 0
    assert [(r["username"], r["allowed"]) for r in rows][-2:] == [("operator", 0), ("qe.anna", 1)]
