"""The console's Models tab and controller proposals: clicks forwarded to the core with the logged-in user.

Real registry entries (copies of the bundled solder model, each made distinct by one extra archive entry),
a real SQLite store for the audit log, a real process controller over the in-process twin.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from inspection.config import StationConfig
from inspection.domain.permissions import Role, User
from inspection.models.registry import ModelRecord, ModelRegistry
from inspection.people.audit import AuditLog, Operations
from inspection.records.store import Store

pytestmark = pytest.mark.ui

REPO = Path(__file__).resolve().parents[2]
SOLDER_MODEL = REPO / "inspection" / "demo" / "models" / "solder_yolov8n.pt"
ENGINEER = User("qe.anna", Role.ENGINEER)
OPERATOR = User("op.tom", Role.OPERATOR)


def _model_copy(folder: Path, name: str) -> Path:
    """A copy of the bundled model with one extra entry in its archive: a different file (and hash) that
    torch still loads."""
    path = folder / f"{name}.pt"
    shutil.copyfile(SOLDER_MODEL, path)
    with zipfile.ZipFile(path, "a") as archive:
        prefix = archive.namelist()[0].split("/")[0]
        archive.writestr(f"{prefix}/.data/station_note", f"registry test copy {name}")
    return path


@pytest.fixture
def registered(console_config: StationConfig, tmp_path: Path) -> dict[str, ModelRecord]:
    """solder: production v1, a better candidate v2 (passes the gate), a worse one v3 (more escapes)."""
    if not SOLDER_MODEL.is_file():
        pytest.skip(f"{SOLDER_MODEL} absent")
    registry = ModelRegistry(console_config.registry_dir)
    try:
        files = tmp_path / "model-files"
        files.mkdir()
        production = registry.register(_model_copy(files, "v1"), "solder", dataset_version="solder-v1-3f2a",
                                       command="station train --data v1", metrics={
                                           "mAP50": 0.187, "escape_rate": 0.745, "false_reject_rate": 0.0})
        registry.promote(production.id, "setup")
        better = registry.register(_model_copy(files, "v2"), "solder", dataset_version="solder-v2-9c1d",
                                   command="station train --data v2", metrics={
                                       "mAP50": 0.214, "escape_rate": 0.700, "false_reject_rate": 0.010})
        worse = registry.register(_model_copy(files, "v3"), "solder", dataset_version="solder-v3-77e0",
                                  command="station train --data v3", metrics={
                                      "mAP50": 0.221, "escape_rate": 0.782, "false_reject_rate": 0.0})
    finally:
        registry.close()
    return {"production": production, "better": better, "worse": worse}


def _production(config: StationConfig) -> str:
    registry = ModelRegistry(config.registry_dir)  # a fresh connection: what the core has stored
    try:
        record = registry.production("solder")
        return record.id if record else ""
    finally:
        registry.close()


def _row_texts(view, model_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    row = [r.id for r in view.records].index(model_id)
    return [view.table.item(row, c).text() for c in range(view.table.columnCount())]


def test_models_tab_promotes_a_passing_candidate_and_rolls_back(qtbot, make_window, console_config: StationConfig,
                                                                registered: dict[str, ModelRecord],
                                                                tmp_path: Path) -> None:
    window = make_window(console_config, tmp_path / "station.db", user=OPERATOR)
    window.tabs.setCurrentWidget(window.models)
    view = window.models
    assert view.product.currentText() == "solder" and view.table.rowCount() == 3
    assert _row_texts(view, registered["production"].id)[1:6] == ["production", "solder-v1-3f2a", "0.1870", "0.7450",
                                                                   "0.0000"]
    assert _row_texts(view, registered["better"].id)[1:6] == ["candidate", "solder-v2-9c1d", "0.2140", "0.7000",
                                                               "0.0100"]
    view.select(registered["better"].id)
    assert "passes the gate" in view.gate_title.text()
    assert "escape_rate: 0.7450 → 0.7000 (allowed +0.0000) ok" in view.gate_text.text()

    # An operator's click: the core refuses, says who may, and the audit log keeps the refused attempt.
    qtbot.mouseClick(view.promote_button, Qt.MouseButton.LeftButton)
    assert "op.tom (operator) may not promote a candidate model" in view.message.text()
    assert "log in as: engineer, admin" in view.message.text() and window.last_message == view.message.text()
    assert _production(console_config) == registered["production"].id
    denied = [e for e in AuditLog(window.ops.store).entries() if e["action"] == "promote_model"]
    assert [(e["username"], e["allowed"]) for e in denied] == [("op.tom", 0)]
    assert registered["better"].id in denied[0]["detail"]

    # The same click as an engineer promotes it; the table follows the registry.
    window.set_user(ENGINEER)
    view.select(registered["better"].id)
    qtbot.mouseClick(view.promote_button, Qt.MouseButton.LeftButton)
    assert _production(console_config) == registered["better"].id
    assert f"{registered['better'].id} is now the production model of solder" in view.message.text()
    assert _row_texts(view, registered["better"].id)[1] == "production"
    assert _row_texts(view, registered["production"].id)[1] == "retired"
    assert view.history.item(0, 1).text() == "promote" and view.history.item(0, 4).text() == "qe.anna"

    # Roll back: the previous production model is back, recorded with who did it.
    qtbot.mouseClick(view.rollback_button, Qt.MouseButton.LeftButton)
    assert _production(console_config) == registered["production"].id
    assert f"{registered['production'].id} is the production model of solder again" in view.message.text()
    assert _row_texts(view, registered["better"].id)[1] == "retired"
    assert (view.history.item(0, 1).text(), view.history.item(0, 4).text()) == ("rollback", "qe.anna")
    allowed = [(e["action"], e["username"]) for e in AuditLog(window.ops.store).entries() if e["allowed"]]
    assert {("promote_model", "qe.anna"), ("rollback_model", "qe.anna")} <= set(allowed)


def test_models_tab_shows_why_the_gate_blocks_and_the_core_refuses(qtbot, make_window, console_config: StationConfig,
                                                                   registered: dict[str, ModelRecord],
                                                                   tmp_path: Path) -> None:
    window = make_window(console_config, tmp_path / "station.db", user=ENGINEER)
    window.tabs.setCurrentWidget(window.models)
    view = window.models
    view.select(registered["worse"].id)
    assert "not promotable" in view.gate_title.text()
    assert "escape_rate: 0.7450 → 0.7820 (allowed +0.0000) BLOCKED" in view.gate_text.text()
    qtbot.mouseClick(view.promote_button, Qt.MouseButton.LeftButton)
    assert "blocked by the gate" in view.message.text() and "0.7820" in view.message.text()
    assert _production(console_config) == registered["production"].id
    refused = [e for e in AuditLog(window.ops.store).entries() if e["action"] == "promote_model"]
    assert [e["allowed"] for e in refused] == [0, 1]  # newest first: the core's refusal after the attempt
    assert "blocked by the gate" in refused[0]["detail"]

    # A candidate whose file was changed after registration: the gate view and the core both refuse it.
    registered["better"].path.write_bytes(b"not the registered model")
    view.select(registered["better"].id)
    assert "changed after registration" in view.gate_text.text()
    qtbot.mouseClick(view.promote_button, Qt.MouseButton.LeftButton)
    assert "changed after registration" in view.message.text()
    assert _production(console_config) == registered["production"].id

    # Nothing to roll back to: the production model was never replaced.
    qtbot.mouseClick(view.rollback_button, Qt.MouseButton.LeftButton)
    assert "has no previous production model to roll back to" in view.message.text()


def test_models_tab_without_a_registry_says_how_to_make_one(qtbot, make_window, console_config: StationConfig,
                                                            tmp_path: Path) -> None:
    window = make_window(console_config, tmp_path / "station.db", user=ENGINEER)
    window.tabs.setCurrentWidget(window.models)
    assert "station models register" in window.models.status.text()
    assert not console_config.registry_dir.exists()  # looking does not create one
    qtbot.mouseClick(window.models.promote_button, Qt.MouseButton.LeftButton)
    assert window.models.message.text().startswith("Not done:")


# --- controller proposals ---------------------------------------------------------------------------------


@pytest.fixture
def advise_controller(tmp_path: Path) -> Iterator[tuple[object, object, Store]]:
    """A real controller in advise mode over the in-process paint twin, logging into the station's SQLite."""
    from inspection.process.config import default_controller_config
    from inspection.process.controller import Controller
    from inspection.process.store import ProcessLog
    from inspection.simulation.twin import ProcessTwin
    from inspection.simulation.twin_process import InProcessTwin

    db = tmp_path / "station.db"
    twin = ProcessTwin("paint", seed=0)
    config = default_controller_config("paint", mode="advise", min_samples=30)
    with Store(db) as store, ProcessLog(db) as log:
        controller = Controller(config, InProcessTwin(twin), sink=log, classes=twin.classes).start()
        yield controller, twin, store


def _feed(controller, twin, start: int, count: int):  # type: ignore[no-untyped-def]
    """Thin coverage on every third panel: the rate is far above target, the controller proposes."""
    from inspection.domain.types import VerdictStatus
    from inspection.process.controller import PartResult

    made = []
    for i in range(start, start + count):
        hit = frozenset({"thin_coverage"}) if i % 3 == 0 else frozenset()
        made.append(controller.observe(PartResult(i, hit, VerdictStatus.FAIL if hit else VerdictStatus.PASS, "m",
                                                  twin.read_actuals(), f"p{i}")))
    return [p for p in made if p is not None]


def test_controller_panel_rejects_approves_and_reverts_advise_proposals(qtbot, advise_controller) -> None:
    from station_ui.controller_view import ControllerView

    controller, twin, store = advise_controller
    ops = Operations(store)
    who = {"user": OPERATOR}
    view = ControllerView(controller=lambda: controller, ops=lambda: ops, user=lambda: who["user"])
    qtbot.addWidget(view)
    view.set_store(store)
    view.show()
    flow_before = twin.read_setpoints()["fluid_flow_cc_min"]

    first = _feed(controller, twin, 0, 30)
    assert len(first) == 1 and first[0].status == "pending" and first[0].mode == "advise"
    view.refresh()
    assert view.pending.rowCount() == 1 and view.pending.item(0, 0).text() == str(first[0].id)
    assert "fluid_flow_cc_min" in view.pending.item(0, 4).text() and "live, mode advise" in view.status.text()

    # An operator may not decide: refused by the core, audited, nothing written.
    qtbot.mouseClick(view.approve_button, Qt.MouseButton.LeftButton)
    assert "op.tom (operator) may not approve, reject or revert process-controller proposals" in view.message.text()
    assert controller.get(first[0].id).status == "pending" and twin.read_setpoints()["fluid_flow_cc_min"] == flow_before
    assert [(e["action"], e["allowed"]) for e in AuditLog(store).entries()] == [("controller", 0)]

    # Reject: discarded with the reason, nothing written to the process.
    who["user"] = ENGINEER
    qtbot.keyClicks(view.reason, "flow meter being recalibrated")
    qtbot.mouseClick(view.reject_button, Qt.MouseButton.LeftButton)
    rejected = controller.get(first[0].id)
    assert (rejected.status, rejected.approver, rejected.reason) == ("rejected", "qe.anna",
                                                                      "flow meter being recalibrated")
    assert twin.read_setpoints()["fluid_flow_cc_min"] == flow_before and view.pending.rowCount() == 0
    assert view.history.item(0, 3).text() == "rejected"

    # The next proposal: Approve applies it to the process within the limits, recorded with the approver.
    second = _feed(controller, twin, 30, 30)
    assert len(second) == 1
    view.refresh()
    assert view.pending.item(0, 0).text() == str(second[0].id)
    qtbot.mouseClick(view.approve_button, Qt.MouseButton.LeftButton)
    applied = controller.get(second[0].id)
    assert (applied.status, applied.approver) == ("applied", "qe.anna"), view.message.text()
    flow = next(c for c in applied.changes if c.parameter == "fluid_flow_cc_min")
    assert flow.after != flow_before
    assert twin.read_setpoints()["fluid_flow_cc_min"] == pytest.approx(flow.after)
    assert f"#{applied.id} applied by qe.anna" in view.message.text()
    stored = store.query("select status, approver from process_changes where id = ?", [applied.id])[0]
    assert (stored["status"], stored["approver"]) == ("applied", "qe.anna")

    # Revert the applied change from the history: the old value is back, recorded as a revert.
    view.history.selectRow([r["id"] for r in view.history_rows].index(applied.id))
    qtbot.mouseClick(view.revert_button, Qt.MouseButton.LeftButton)
    assert twin.read_setpoints()["fluid_flow_cc_min"] == pytest.approx(flow_before)
    assert controller.get(applied.id).status == "reverted"
    assert f"reverts #{applied.id}" in view.message.text()
    decisions = [e["detail"] for e in AuditLog(store).entries() if e["action"] == "controller" and e["allowed"]]
    assert [json.loads(d)["decision"] for d in decisions] == ["revert", "approve", "reject"]


def test_controller_panel_without_a_live_controller_says_where_to_decide(qtbot, make_window,
                                                                         console_config: StationConfig,
                                                                         tmp_path: Path) -> None:
    from inspection.process.controller import Change, Proposal
    from inspection.process.store import ProcessLog

    db = tmp_path / "station.db"
    with ProcessLog(db) as log:
        log.save_proposal(Proposal(1, 120, 1_700_000_000.0, "move", "advise", "ewma",
                                   (Change("peak_temp_c", 245.0, 248.5),), {}))
    window = make_window(console_config, db, user=ENGINEER)
    window.tabs.setCurrentWidget(window.controller)
    assert window.controller.pending.rowCount() == 1
    qtbot.mouseClick(window.controller.approve_button, Qt.MouseButton.LeftButton)
    assert "no live controller in this console" in window.controller.message.text()
    assert "station controller approve" in window.last_message
