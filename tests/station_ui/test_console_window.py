"""The console over a real station: counters and verdict follow real inspections, failures are clickable,
overrides are stored and reviewed, roles are enforced by the core, layout is remembered."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication

from inspection.config import StationConfig, load_station_config
from inspection.domain.permissions import Role, User
from inspection.people.accounts import Accounts
from inspection.people.audit import AuditLog
from inspection.records.store import Store

pytestmark = pytest.mark.ui

RUN_TIMEOUT_MS = 120_000


def _run_to_end(qtbot, window) -> None:
    window.start()
    qtbot.waitUntil(lambda: window.state in ("finished", "error"), timeout=RUN_TIMEOUT_MS)
    assert window.state == "finished", window.state_label.text()
    qtbot.waitUntil(lambda: window.counters.text_of("inspected") == str(window.bridge.received), timeout=5000)


def test_counters_and_verdict_follow_real_inspections(qtbot, make_window, console_config: StationConfig,
                                                      tmp_path: Path) -> None:
    db = tmp_path / "station.db"
    window = make_window(console_config, db)
    assert window.state == "idle" and window.start_action.isEnabled()
    _run_to_end(qtbot, window)

    with Store(db) as store:
        counts = store.counts()
        last = store.query("select part_key, verdict from inspections order by id desc limit 1")[0]
        corrupt = store.query("select verdict, failsafe from inspections where reasons like '%decode_error%'")
    assert sum(counts.values()) == 7 == window.bridge.received
    assert corrupt == [{"verdict": "ERROR", "failsafe": 1}]  # the unreadable image was not passed
    for key in ("pass", "fail", "error"):
        assert window.counters.text_of(key) == str(counts[key.upper()])
    assert window.counters.text_of("inspected") == "7"
    yield_pct = 100.0 * counts["PASS"] / 7
    assert window.counters.text_of("yield_pct") == f"{yield_pct:.1f} %"
    assert window.verdict.status == last["verdict"]
    assert last["part_key"] in window.verdict.text()
    assert window.camera_views["cam0"].image is not None
    assert "failsafe" in window.alarm_banner.alarms and window.alarm_banner.isVisible()

    rejects = counts["FAIL"] + counts["ERROR"] + counts["REVIEW"]
    assert window.failures.count() == min(rejects, 12)
    item = window.failures.item(0)
    rect = window.failures.visualItemRect(item)
    qtbot.mouseClick(window.failures.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = window.failure_dialog
    assert dialog.isVisible() and window.failures.inspections[0].verdict.status.value in dialog.windowTitle()
    dialog.close()

    window.acknowledge_alarms()
    assert not window.alarm_banner.isVisible()
    assert window.start_action.isEnabled() and not window.stop_action.isEnabled()


def test_override_flow_and_review_queue(qtbot, make_window, console_config: StationConfig, tmp_path: Path) -> None:
    db = tmp_path / "station.db"
    window = make_window(console_config, db)
    _run_to_end(qtbot, window)
    window.tabs.setCurrentWidget(window.history)
    window.history.verdict.setCurrentText("ERROR")
    qtbot.mouseClick(window.history.search_button, Qt.MouseButton.LeftButton)
    assert len(window.history.rows) == 1
    window.history.table.selectRow(0)
    assert window.history.preview_text.text().startswith(f"#{window.history.rows[0]['id']} ERROR")
    part_id = window.history.rows[0]["id"]

    qtbot.mouseClick(window.history.override_button, Qt.MouseButton.LeftButton)
    dialog = window.override_dialog
    dialog.verdict.setCurrentText("PASS")
    dialog.reason.setPlainText("ok")  # too short: refused by the core, nothing stored
    dialog.accept()
    assert "give a reason" in window.last_message
    assert window.ops.review_queue() == []

    dialog = window.request_override(part_id, "cam0#6", "ERROR")
    dialog.verdict.setCurrentText("FAIL")
    dialog.reason.setPlainText("file was truncated by the camera PC, part re-inspected by hand: bridge")
    dialog.accept()
    queue = window.ops.review_queue()
    assert [(q["inspection_id"], q["old_verdict"], q["new_verdict"], q["username"]) for q in queue] == [
        (part_id, "ERROR", "FAIL", "operator")]
    assert window.history.rows[0]["override"] == "pending:FAIL"

    assert not window.tabs.isTabVisible(3)  # operators do not see the review queue…
    window.review.refresh()
    window.review.table.selectRow(0)
    window.decide_review("approved")  # …and the core refuses them anyway
    assert "may not" in window.last_message and len(window.ops.review_queue()) == 1

    accounts = Accounts(window.ops.store)
    admin = accounts.create("alice", Role.ADMIN, "987654")
    accounts.create("ed", Role.ENGINEER, "246810", by=admin)
    login = window.show_login()
    login.username.setText("ed")
    login.secret.setText("000000")
    assert not login.try_login() and "wrong" in login.message.text()
    login.secret.setText("246810")
    assert login.try_login()
    assert window.user == User("ed", Role.ENGINEER) and window.tabs.isTabVisible(3)
    window.tabs.setCurrentWidget(window.review)
    window.review.table.selectRow(0)
    window.review.note.setText("agreed")
    qtbot.mouseClick(window.review.approve_button, Qt.MouseButton.LeftButton)
    assert window.ops.review_queue() == []
    assert window.ops.overrides_for(part_id)[0]["reviewed_by"] == "ed"
    actions = {(e["username"], e["action"], e["allowed"]) for e in AuditLog(window.ops.store).entries()}
    assert {("operator", "override", 1), ("operator", "review", 0), ("ed", "login", 1), ("ed", "review", 1),
            ("operator", "run", 1)} <= actions


def test_roles_are_enforced_by_the_core(qtbot, make_window, console_config: StationConfig, tmp_path: Path) -> None:
    window = make_window(console_config, tmp_path / "station.db")
    out = tmp_path / "export.csv"
    assert not window.history.export_button.isEnabled()
    assert window.export_history(out) is None and not out.exists()  # the core refuses, not only the button
    assert "may not export" in window.last_message
    assert window.show_users() is None

    window.set_user(None)  # nobody logged in (console started with --require-login)
    window.start()
    assert window.runner is None and "not logged in" in window.last_message

    window.set_user(User("root", Role.ADMIN))
    assert window.show_users() is not None
    assert window.export_history(out) == 0
    with open(out, encoding="utf-8") as handle:
        assert "verdict" in next(csv.reader(handle))
    denied = [e for e in AuditLog(window.ops.store).entries() if not e["allowed"]]
    assert {e["action"] for e in denied} >= {"export", "manage_users", "run"}


def test_layout_theme_and_overlays_are_remembered(qtbot, make_window, console_config: StationConfig) -> None:
    window = make_window(console_config)
    window.tabs.setCurrentIndex(2)
    window.overlay_action.setChecked(False)
    assert not window.camera_views["cam0"].show_overlays
    window.set_theme("light")
    light_window_colour = QApplication.palette().window().color().lightness()
    window.save_settings()
    window.shutdown()

    again = make_window(console_config)
    assert again.tabs.currentIndex() == 2 and again.theme == "light"
    assert not again.overlay_action.isChecked() and not again.camera_views["cam0"].show_overlays
    again.set_theme("dark")
    assert QApplication.palette().window().color().lightness() < light_window_colour


def test_controller_panel_and_proposal_alarm_follow_the_process_log(qtbot, make_window, tmp_path: Path,
                                                                    console_config: StationConfig) -> None:
    process_store = pytest.importorskip("inspection.process.store")
    from inspection.process.controller import Change, Proposal

    db = tmp_path / "station.db"
    window = make_window(console_config, db)
    window.tabs.setCurrentWidget(window.controller)
    assert "not running" in window.controller.status.text()
    with process_store.ProcessLog(db) as process_log:
        process_log.save_proposal(Proposal(1, 120, 1_700_000_000.0, "move", "approve", "pid",
                                           (Change("peak_temp_c", 245.0, 248.5),), {"bridge": 0.08}))
        process_log.save_proposal(Proposal(2, 60, 1_699_999_000.0, "move", "auto", "pid",
                                           (Change("paste_volume_pct", 100.0, 96.0),), {}, status="applied",
                                           approver="auto"))
    window.poll_store()
    assert "controller_proposal" in window.alarm_banner.alarms
    window.controller.refresh()
    assert window.controller.pending.rowCount() == 1 and window.controller.history.rowCount() == 1
    assert "peak_temp_c 245 → 248.5" in window.controller.pending.item(0, 4).text()
    window.poll_store()  # the same proposal does not raise the alarm again
    assert window.alarm_banner.alarms["controller_proposal"][2] == 1


def test_pause_resume_and_stop_drive_the_real_pipeline(qtbot, make_window, station_yaml: Path, parts_dir: Path,
                                                       tmp_path: Path) -> None:
    from inspection.config import load_station_config

    camera = {"kind": "replay", "id": "cam0", "path": str(parts_dir), "rate_hz": 5.0, "loop": True}
    window = make_window(load_station_config(station_yaml, {"cameras": [camera]}), tmp_path / "station.db")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F5)  # keyboard: F5 starts
    qtbot.waitUntil(lambda: window.state == "running" and window.bridge.received >= 1, timeout=RUN_TIMEOUT_MS)
    qtbot.keyClick(window, Qt.Key.Key_F6)  # F6 pauses
    qtbot.waitUntil(lambda: window.state == "paused", timeout=30_000)
    assert window.start_action.text().startswith("▶ Resume") and not window.recipe_combo.isEnabled()
    seen = window.bridge.received
    window.start()  # resume: the same open station continues
    qtbot.waitUntil(lambda: window.state == "running" and window.bridge.received > seen, timeout=30_000)
    window.activateWindow()  # the resume went through the API; give the keyboard back to the window
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F7)  # F7 stops
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=30_000)
    assert window.runner is not None and window.runner.join(10.0)
    with Store(tmp_path / "station.db") as store:
        assert sum(store.counts().values()) == window.bridge.received
    actions = [e["detail"] for e in AuditLog(Store(tmp_path / "station.db")).entries() if e["action"] == "run"]
    assert actions[:4] == ["stop", "resume", "pause", "start"]


def test_spc_view_draws_what_the_core_computes(qtbot, make_window, tmp_path: Path,
                                               console_config: StationConfig) -> None:
    import time as _time

    import numpy as np

    from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
    from inspection.records.spc import p_chart, pareto

    db = tmp_path / "station.db"
    with Store(db) as store:
        now = _time.time() - 600
        for i in range(120):
            cls = ("bridge", "solder_ball", "bridge")[i % 3] if i % 4 == 0 or i > 100 else None
            dets = (Detection(cls, 0.9, Box(1, 1, 9, 9)),) if cls else ()
            verdict = Verdict(VerdictStatus.FAIL, (Reason("defect", cls),)) if cls else Verdict.passed()
            store.record(Inspection(Frame(np.zeros((16, 16), np.uint8), "cam0", i, now + i), dets, verdict, dets))
        expected_chart, expected_bars = p_chart(store, 20), pareto(store)
    window = make_window(console_config, db)
    window.spc.subgroup.setValue(20)
    window.tabs.setCurrentWidget(window.spc)
    window.spc.refresh()
    assert np.array_equal(window.spc.chart.p, expected_chart.p)
    assert [b.class_name for b in window.spc.bars] == [b.class_name for b in expected_bars] == ["bridge",
                                                                                                 "solder_ball"]
    assert f"p̄ = {expected_chart.centre:.3f}" in window.spc.message.text()
    assert "out of control" in window.spc.message.text() and len(expected_chart.out_of_control) >= 1
    curves = window.spc.p_plot.getPlotItem().listDataItems()
    assert len(curves) >= 4  # p, centre, UCL, LCL (+ out-of-control marks)
    assert {t.class_name for t in window.spc.trends} == {"bridge", "solder_ball"}


def test_bundled_demo_runs_in_the_console(qtbot, make_window, tmp_path: Path) -> None:
    from inspection.config import load_station_config
    from inspection.demo import demo_config_path

    base = load_station_config(demo_config_path("solder"))
    recipe_model = Path(base.recipe).parent / "../models/solder_yolov8n.pt"
    if not recipe_model.exists():
        pytest.skip("the bundled solder model is not built yet (inspection/demo/models/solder_yolov8n.pt absent)")
    camera = base.cameras[0].model_dump() | {"rate_hz": None, "max_parts": 6}
    config = load_station_config(demo_config_path("solder"), {"data_dir": str(tmp_path), "cameras": [camera],
                                                              "detector": {"kind": "ultralytics", "device": "cpu"}})
    window = make_window(config, tmp_path / "demo.db")
    _run_to_end(qtbot, window)
    with Store(tmp_path / "demo.db") as store:
        rows = store.query("select verdict, model_id from inspections order by id")
    assert len(rows) == 6 and {r["model_id"].split("@")[0] for r in rows} == {"solder_yolov8n"}
    assert window.counters.text_of("inspected") == "6"
    assert window.verdict.status == rows[-1]["verdict"]


def test_samples_tab_reviews_what_the_station_kept(qtbot, make_window, station_yaml: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("min_confidence: 0.5", "min_confidence: 0.0")
                      .replace("min_confidence: 0.3", "min_confidence: 0.0"))
    config = load_station_config(station_yaml, {"detector": {"conf": 0.0001}})
    window = make_window(config, tmp_path / "station.db")
    _run_to_end(qtbot, window)
    assert not window.tabs.isTabVisible(5)  # operators do not review training samples
    window.set_user(User("ed", Role.ENGINEER))
    assert window.tabs.isTabVisible(5)
    window.tabs.setCurrentIndex(5)
    panel = window.samples_panel
    assert panel is not None and panel.table.rowCount() == 6  # every failed part was kept
    assert panel.editor.canvas.labels()  # the model's detections are the starting labels
    panel.accept()
    assert panel.table.rowCount() == 5
    with Store(tmp_path / "station.db") as store:
        assert store.query("select reviewed_by from samples where status = 'accepted'") == [{"reviewed_by": "ed"}]


def test_failure_view_lists_a_board_by_reference_designator(qtbot, make_window) -> None:
    import numpy as np

    from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus

    window = make_window(None)
    short = Detection("short", 0.9, Box(10, 10, 20, 20), attributes={"refdes": "U1", "pin": "3"})
    missing = Detection("missing", 0.95, Box(40, 40, 60, 50), attributes={"refdes": "R3", "detail": "no body"})
    inspection = Inspection(Frame(np.zeros((80, 80, 3), np.uint8), "cam0", 1, 1.0), (short, missing),
                            Verdict(VerdictStatus.FAIL, (Reason("defect", "short ×1", "short"),)), (short, missing))
    dialog = window.show_failure(inspection)
    items = [dialog.refdes_list.item(i).text() for i in range(dialog.refdes_list.count())]
    assert items == ["R3: missing (no body)", "U1 pin 3: short"]
    dialog.close()


def test_the_status_bar_names_the_database_file_and_its_tooltip_the_path(
        make_window, console_config: StationConfig, tmp_path: Path) -> None:
    db = tmp_path / "a" / "long" / "folder" / "of" / "the" / "line" / "station.db"
    window = make_window(console_config, db)
    assert window.db_label.text() == "station.db" and window.db_label.toolTip() == str(db)
