"""The console under load and bad input: a burst of parts, a camera that vanishes, a model that does not
load, a locked database. It raises a clear alarm, stays in a safe state and never freezes."""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PyQt6.QtCore import QTimer

from inspection.config import StationConfig, load_station_config
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, StageTimings, Verdict, VerdictStatus

pytestmark = pytest.mark.ui

RUN_TIMEOUT_MS = 120_000


def _burst(bridge, count: int, start: int, image: np.ndarray) -> None:
    """What a fast pipeline thread does: one listener call per part, as fast as it can."""
    for i in range(start, start + count):
        defect = Detection("bridge", 0.9, Box(10, 10, 60, 40))
        status = VerdictStatus.FAIL if i % 4 == 0 else VerdictStatus.PASS
        frame = Frame(image, "cam0", i, time.time(), part_id=f"P{i:05d}")  # Frame copies the pixels
        verdict = Verdict(status, (Reason("defect", "bridge ×1 (0.90)", "bridge"),) if status.rejects else ())
        bridge.on_inspection(Inspection(frame, (defect,), verdict, (defect,) if status.rejects else (),
                                        StageTimings(latency_ms=12.0), "burst", "m@0"))


def test_burst_of_1000_parts_keeps_memory_flat_and_the_ui_responsive(qtbot, make_window) -> None:
    window = make_window(None)
    bridge = window.bridge
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)  # 0.9 MB a part
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(bridge.received))
    timer.start(5)
    process = psutil.Process(os.getpid())
    shown_part: list[int] = [-1]
    out_of_step: list[tuple[int, float]] = []  # (part shown, inspected count shown) from one flush that disagree
    bridge.frameReady.connect(lambda inspection: shown_part.__setitem__(0, inspection.frame.sequence))
    bridge.countersChanged.connect(lambda c: out_of_step.append((shown_part[0], c["inspected"]))
                                   if c["inspected"] != shown_part[0] + 1 else None)

    def burst(start: int) -> list[int]:
        ticks.clear()
        worker = threading.Thread(target=_burst, args=(bridge, 1000, start, image))
        worker.start()
        qtbot.waitUntil(lambda: not worker.is_alive(), timeout=RUN_TIMEOUT_MS)
        qtbot.waitUntil(lambda: window.counters.text_of("inspected") == str(start + 1000), timeout=10_000)
        gc.collect()
        return list(ticks)

    burst(0)  # warm-up: caches, thumbnails, allocator
    rss_before = process.memory_info().rss
    ticks_during = burst(1000)
    rss_after = process.memory_info().rss
    timer.stop()

    assert window.counters.text_of("fail") == "500" and window.counters.text_of("pass") == "1500"
    assert window.counters.text_of("yield_pct") == "75.0 %"
    # 1000 parts of 0.9 MB each went through; keeping them would add ~900 MB.
    print(f"RSS growth over a 1000-part burst: {(rss_after - rss_before) / 1e6:.1f} MB; frames shown "
          f"{bridge.shown} of {bridge.received}, wake-ups {bridge.wakeups}, GUI ticks {len(ticks_during)}")
    assert rss_after - rss_before < 60_000_000, f"RSS grew {(rss_after - rss_before) / 1e6:.0f} MB"
    assert window.failures.count() == 12 and window.failures.inspections[0].frame.part_id == "P01996"
    assert not out_of_step, f"counters and frame shown from different moments: {out_of_step[:5]}"
    # The GUI event loop kept running while the pipeline thread was producing…
    assert any(0 < t < 2000 for t in ticks_during)
    # …and was never flooded: one queued wake-up at a time, frames coalesced to the latest.
    assert bridge.wakeups <= bridge.flushes + 1
    assert bridge.shown < bridge.received
    assert window.verdict.status == "FAIL" or window.verdict.status == "PASS"
    assert window.camera_views["cam0"].caption.startswith("P01999")


def test_camera_that_vanishes_stops_the_line_with_an_alarm(qtbot, make_window, tmp_path: Path,
                                                           station_yaml: Path, parts_dir: Path) -> None:
    config = load_station_config(station_yaml, {"cameras": [{"kind": "replay", "id": "cam0", "path": str(parts_dir),
                                                             "rate_hz": 2.0}]})
    window = make_window(config, tmp_path / "station.db")
    window.start()
    qtbot.waitUntil(lambda: window.bridge.received >= 1, timeout=RUN_TIMEOUT_MS)
    shutil.rmtree(parts_dir)  # the camera's source disappears mid-run
    qtbot.waitUntil(lambda: window.state in ("finished", "error"), timeout=RUN_TIMEOUT_MS)
    assert window.state == "error"
    assert {"camera_error", "safe_stop"} <= set(window.alarm_banner.alarms)
    assert "Camera lost" in window.alarm_banner.label.text() and "is gone" in window.alarm_banner.label.text()
    assert window.counters.text_of("inspected") == "1"  # the part taken before got its verdict; no ERROR flood
    assert window.start_action.isEnabled()


@pytest.mark.parametrize(("problem", "kind", "words"), [
    ("missing_camera", "camera_error", "does not exist"),
    ("bad_model", "model", "not a loadable"),
])
def test_station_that_cannot_open_leaves_a_safe_console(qtbot, make_window, tmp_path: Path, station_yaml: Path,
                                                        problem: str, kind: str, words: str) -> None:
    overrides: dict = {}
    if problem == "missing_camera":
        overrides = {"cameras": [{"kind": "replay", "id": "cam0", "path": str(tmp_path / "unplugged")}]}
    else:
        bad = tmp_path / "broken.pt"
        bad.write_bytes(b"\x00" * 1000)
        overrides = {"detector": {"kind": "ultralytics", "model": str(bad), "device": "cpu"}}
    window = make_window(load_station_config(station_yaml, overrides), tmp_path / "station.db")
    window.start()
    qtbot.waitUntil(lambda: window.state == "error", timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: kind in window.alarm_banner.alarms, timeout=5000)
    assert words in window.alarm_banner.alarms[kind][1]
    assert window.alarm_banner.isVisible() and "ERROR" in window.state_label.text()
    assert window.start_action.isEnabled() and not window.pause_action.isEnabled()
    assert window.runner is not None and window.runner.join(10.0)
    window.tabs.setCurrentWidget(window.history)  # the rest of the console still works
    assert window.history.message.text() == "0 part(s)"


def test_locked_database_raises_an_alarm_without_freezing(qtbot, make_window, tmp_path: Path,
                                                          console_config: StationConfig) -> None:
    db = tmp_path / "station.db"
    window = make_window(console_config, db)
    locker = sqlite3.connect(str(db), timeout=0.1)
    locker.execute("begin exclusive")  # another program holds the write lock
    try:
        window.start()
        qtbot.waitUntil(lambda: window.state == "starting", timeout=5000)
        window.tabs.setCurrentWidget(window.history)  # the GUI keeps serving while the station waits
        window.tabs.setCurrentIndex(0)
        qtbot.waitUntil(lambda: window.state == "error", timeout=RUN_TIMEOUT_MS)
    finally:
        locker.rollback()
        locker.close()
    qtbot.waitUntil(lambda: "database" in window.alarm_banner.alarms, timeout=5000)
    assert "locked" in window.alarm_banner.alarms["database"][1]
    assert window.start_action.isEnabled()


def test_unusable_database_path_still_opens_the_console(qtbot, make_window, tmp_path: Path,
                                                        console_config: StationConfig) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x", encoding="utf-8")
    window = make_window(console_config, blocker / "station.db")
    assert "database" in window.alarm_banner.alarms and window.ops is None
    window.tabs.setCurrentWidget(window.history)
    assert "not available" in window.history.message.text()
    assert window.show_login() is None and "unavailable" in window.last_message


def test_alarms_logged_by_the_core_reach_the_banner(qtbot, make_window, tmp_path: Path,
                                                    console_config: StationConfig) -> None:
    from inspection.records.store import Store

    db = tmp_path / "station.db"
    with Store(db) as store:
        store.event("alarm", "old_alarm", "before the console opened: not replayed")
    window = make_window(console_config, db)
    with Store(db) as store:  # e.g. the image archive of a headless station on the same database
        store.event("alarm", "disk_low", "less than 200 MB free under /data/images: images are no longer archived")
        store.event("info", "station_started", "not an alarm")
    window.poll_store()
    assert list(window.alarm_banner.alarms) == ["disk_low"]
    assert "Disk almost full" in window.alarm_banner.label.text()


def test_the_periodic_counter_refresh_never_runs_ahead_of_the_frame_shown(qtbot) -> None:
    """The console's 1-s tick re-emits the counters (parts/min decays). While parts wait for the next flush,
    counters from now would show a count ahead of the frame on screen; the flush brings both together."""
    from station_ui.bridge import PipelineBridge

    bridge = PipelineBridge()
    emitted: list[float] = []
    bridge.countersChanged.connect(lambda c: emitted.append(c["inspected"]))
    _burst(bridge, 1, 0, np.zeros((8, 8, 3), np.uint8))  # queued: the GUI thread has not flushed yet
    bridge.refresh_counters()
    assert emitted == []
    qtbot.waitUntil(lambda: emitted == [1], timeout=5000)  # the flush: frame and counters of the same moment
    bridge.refresh_counters()  # nothing waiting: the refresh goes out
    assert emitted == [1, 1]


def test_text_from_the_line_is_shown_as_text_not_formatting(qtbot) -> None:
    """Alarm messages quote file names, part ids and PLC texts; class names come from the model file. Qt
    renders an auto-detected "<b>…</b>" as formatting: a fake green "PASS" or "ALL CLEAR" in the banner, a
    hidden part id. Shown as plain text, one line, bidi overrides escaped."""
    from PyQt6.QtCore import Qt

    from station_ui.widgets import AlarmBanner, shown

    banner = AlarmBanner()
    qtbot.addWidget(banner)
    forged = "part P2: <span style='color:#0f0; font-size:40pt'>ALL OK - line released</span>\nsecond line"
    banner.add("failsafe", "Fail-safe verdicts", forged)
    assert banner.label.textFormat() == Qt.TextFormat.PlainText
    assert "<span style=" in banner.label.text() and "\\x0asecond line" in banner.label.text()
    assert shown("ID\u202eSSAP") == "ID\\u202eSSAP"  # would display as "IDPASS"
    assert len(shown("x" * 100_000)) == 160
