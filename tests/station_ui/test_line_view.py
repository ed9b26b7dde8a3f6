"""The console's Line tab against a real central PostgreSQL: engineers see every station of the line,
refreshed live; operators do not see the tab; a console without `central:` has no Line tab to show."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from inspection.config import StationConfig
from inspection.domain.permissions import Role, User

psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install '.[fleet]')")
pytestmark = pytest.mark.ui


@pytest.fixture
def pg_url() -> Iterator[str]:
    server = os.environ.get("STATION_TEST_PG_URL")
    if not server:
        pytest.skip("no PostgreSQL: run the tests through .ci/run, or eval \"$(.ci/services.sh start)\" first "
                    "(sets STATION_TEST_PG_URL)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"create database {name}")
    yield server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"drop database if exists {name} with (force)")


def test_engineers_see_the_line_refreshed_live(qtbot, make_window: Callable[..., object], console_config: StationConfig,
                                               tmp_path: Path, pg_url: str) -> None:
    import numpy as np

    from inspection.central.replicator import Replicator
    from inspection.config import CentralConfig
    from inspection.domain.types import Frame, Inspection, Verdict, VerdictStatus
    from inspection.health.store import HealthLog
    from inspection.records.store import Store

    def ship(name: str, n: int, alarms: dict[str, str], health: str | None = None) -> None:
        db = tmp_path / f"{name}.db"
        with Store(db) as store:
            for i in range(n):
                frame = Frame(np.zeros((4, 4, 3), np.uint8), "cam0", i, time.time() - 30, part_id=f"{name}-{i}")
                store.record(Inspection(frame, (), Verdict(VerdictStatus.PASS), recipe="board", model_id="m7"))
            if health is not None:
                HealthLog(store).record_sample(n, {"sharpness": 812.0}, {"sharpness": 812.0}, health)
                store.event("warning", "health_focus", "focus: sharpness 812 (learned 1500) drifting.",
                            {"signal": "sharpness"})
        Replicator(CentralConfig(url=pg_url), db, name, status=lambda: {"model_id": "m7", "alarms": alarms}).cycle()

    ship("line1-aoi", 4, {})
    config = console_config.model_copy(update={"central": CentralConfig(url=pg_url)})
    window = make_window(config)
    index = window.tabs.indexOf(window.line)
    assert not window.tabs.isTabVisible(index)  # the line operator does not see it
    window.set_user(User("eng", Role.ENGINEER))
    assert window.tabs.isTabVisible(index)
    window.tabs.setCurrentIndex(index)
    qtbot.waitUntil(lambda: window.line.table.rowCount() == 1, timeout=15_000)
    assert window.line.table.item(0, 0).text() == "line1-aoi" and window.line.table.item(0, 1).text() == "4"
    assert window.line.table.item(0, 2).text() == "100.0 %" and window.line.table.item(0, 5).text() == "m7"

    assert window.line.table.item(0, 8).text() == "–"  # it sent no health samples

    ship("line2-aoi", 2, {"camera cam0": "lost"}, health="warning")  # a second station: an alarm, health drifting
    window.line.refresh()
    qtbot.waitUntil(lambda: window.line.table.rowCount() == 2, timeout=15_000)
    assert window.line.table.item(1, 4).text() == "camera cam0: lost"
    health = window.line.table.item(1, 8).text()
    assert health.startswith("warning (1 warning in 1 h, newest health_focus: focus: sharpness 812"), health
    assert window.line.table.item(1, 8).foreground().color().name() == "#ff5252"  # the row has an alarm


def test_without_a_central_store_there_is_no_line_tab(make_window: Callable[..., object],
                                                     console_config: StationConfig) -> None:
    window = make_window(console_config)
    window.set_user(User("eng", Role.ENGINEER))
    assert not window.line.configured and not window.tabs.isTabVisible(window.tabs.indexOf(window.line))
