from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QApplication

from inspection.domain.permissions import Role, User
from inspection.domain.recipe import Recipe
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.records.labels import Label, LabelBook
from inspection.records.samples import SampleKeeper
from inspection.records.store import Store
from station_ui.label_editor import LabelEditor
from station_ui.review_panel import ReviewPanel

pytestmark = pytest.mark.ui
CLASSES = ("bridge", "void", "missing")


def mouse(widget, kind: QEvent.Type, pos: QPoint, button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    event = QMouseEvent(kind, QPointF(pos), widget.mapToGlobal(QPointF(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def drag(widget, start: QPoint, end: QPoint) -> None:
    mouse(widget, QEvent.Type.MouseButtonPress, start)
    for t in (0.3, 0.6, 1.0):
        mouse(widget, QEvent.Type.MouseMove, start + (end - start) * t)
    mouse(widget, QEvent.Type.MouseButtonRelease, end)


def view_point(editor: LabelEditor, x: float, y: float) -> QPoint:
    return editor.canvas.mapFromScene(QPointF(x, y))


@pytest.fixture
def editor(qtbot) -> LabelEditor:
    saved: list[list[Label]] = []
    widget = LabelEditor(CLASSES, saved.append)
    widget.saved_labels = saved  # type: ignore[attr-defined]
    qtbot.addWidget(widget)
    widget.resize(500, 500)
    widget.show()
    qtbot.waitExposed(widget)
    widget.load(np.zeros((100, 100, 3), np.uint8), [])
    return widget


def test_draw_a_box_with_the_mouse_and_save(editor: LabelEditor, qtbot) -> None:
    qtbot.keyClick(editor, Qt.Key.Key_B)
    assert editor.canvas.mode == "box"
    qtbot.keyClick(editor, Qt.Key.Key_2)  # class 2 = void
    drag(editor.canvas.viewport(), view_point(editor, 20, 30), view_point(editor, 60, 70))
    labels = editor.canvas.labels()
    assert len(labels) == 1 and labels[0].class_name == "void"
    b = labels[0].box
    assert (b.x1, b.y1, b.x2, b.y2) == pytest.approx((20, 30, 60, 70), abs=1.5)
    qtbot.keyClick(editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert editor.saved_labels[-1] == labels  # type: ignore[attr-defined]


def test_polygon_move_and_delete(editor: LabelEditor, qtbot) -> None:
    qtbot.keyClick(editor, Qt.Key.Key_P)
    for x, y in ((10, 10), (40, 12), (30, 40)):
        p = view_point(editor, x, y)
        mouse(editor.canvas.viewport(), QEvent.Type.MouseButtonPress, p)
        mouse(editor.canvas.viewport(), QEvent.Type.MouseButtonRelease, p)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    [label] = editor.canvas.labels()
    assert label.polygon is not None and len(label.polygon) == 3 and label.class_name == "bridge"
    qtbot.keyClick(editor, Qt.Key.Key_V)
    drag(editor.canvas.viewport(), view_point(editor, 27, 20), view_point(editor, 47, 30))  # move by (20, 10)
    [moved] = editor.canvas.labels()
    assert moved.polygon[0] == pytest.approx((30, 20), abs=1.5)
    editor.canvas.scene().items()[0].setSelected(True)
    for item in editor.canvas.label_items():
        item.setSelected(True)
    qtbot.keyClick(editor, Qt.Key.Key_Delete)
    assert editor.canvas.labels() == []


def test_a_click_is_not_a_box(editor: LabelEditor, qtbot) -> None:
    qtbot.keyClick(editor, Qt.Key.Key_B)
    drag(editor.canvas.viewport(), view_point(editor, 20, 20), view_point(editor, 20.5, 20.5))
    assert editor.canvas.labels() == []


def queue_store(tmp_path: Path) -> SampleKeeper:
    store = Store(tmp_path / "s.db")
    keeper = SampleKeeper(store, tmp_path / "samples", Recipe(name="r"))
    for i in range(3):
        dets = (Detection("bridge", 0.9, Box(10, 10, 30, 30)),)
        inspection = Inspection(Frame(np.full((64, 64, 3), 40 * i, np.uint8), "cam0", i, float(i)), dets,
                                Verdict(VerdictStatus.FAIL, (Reason("defect", "bridge", "bridge"),)), dets)
        keeper.consider(inspection, store.record(inspection))
    return keeper


def test_review_queue_accept_relabel_and_role(tmp_path: Path, qtbot) -> None:
    keeper = queue_store(tmp_path)
    panel = ReviewPanel(keeper, CLASSES, User("eve", Role.ENGINEER))
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()
    assert panel.table.rowCount() == 3
    assert len(panel.editor.canvas.labels()) == 1  # the model's detection as the starting point
    first = panel.selected_sample()
    qtbot.keyClick(panel.table, Qt.Key.Key_A)
    assert panel.table.rowCount() == 2, panel.message.text()
    assert [lab.author for lab in LabelBook(keeper.store).labels(first)] == ["model"]
    second = panel.selected_sample()
    panel.editor.canvas.delete_selected()
    for item in panel.editor.canvas.label_items():
        item.setSelected(True)
    panel.editor.canvas.delete_selected()
    panel.editor.save()
    status = keeper.store.query("select status, reviewed_by from samples where id = ?", [second])[0]
    assert status == {"status": "relabelled", "reviewed_by": "eve"}
    assert LabelBook(keeper.store).labels(second) == []  # "no defect here" is a label decision too
    assert panel.table.rowCount() == 1 and panel.selected_sample() not in (first, second)

    operator_panel = ReviewPanel(keeper, CLASSES, User("otto", Role.OPERATOR))
    qtbot.addWidget(operator_panel)
    operator_panel.reject()
    assert "otto (operator) may not" in operator_panel.message.text()
    assert operator_panel.table.rowCount() == 1  # nothing changed
    keeper.store.close()


@pytest.mark.slow
def test_console_builds_a_dataset_and_trains_a_candidate(tmp_path: Path, qtbot) -> None:
    store = Store(tmp_path / "s.db")
    keeper = SampleKeeper(store, tmp_path / "samples", Recipe(name="r"))
    rng = np.random.default_rng(0)
    for i in range(12):
        dets = (Detection("bridge", 0.9, Box(10, 10, 30, 30)),)
        image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        inspection = Inspection(Frame(image, "cam0", i, float(i)), dets,
                                Verdict(VerdictStatus.FAIL, (Reason("defect", "bridge", "bridge"),)), dets)
        sample_id = keeper.consider(inspection, store.record(inspection))
        LabelBook(store).review(sample_id, "accepted", User("eve", Role.ENGINEER))
    panel = ReviewPanel(keeper, CLASSES, User("otto", Role.OPERATOR))
    qtbot.addWidget(panel)
    assert panel.open_training() is None and "may not" in panel.message.text()
    panel.user = User("eve", Role.ENGINEER)
    dialog = panel.open_training()
    dialog.epochs.setValue(1)
    dialog.imgsz.setValue(64)
    with qtbot.waitSignal(dialog.finished_with, timeout=300_000) as outcome:
        dialog.start()
    assert outcome.args == ["done"], dialog.log.toPlainText()[-2000:]
    assert dialog.model_path is not None and dialog.model_path.is_file()

    with qtbot.waitSignal(dialog.finished_with, timeout=60_000) as outcome:
        dialog.start()
        dialog.cancel()
    assert outcome.args == ["cancelled"]
    assert not dialog.continue_from_base.isEnabled()  # no station model given: from scratch only

    first = dialog.model_path
    panel.base_model = first  # the station's current model: the next candidate continues from it
    again = panel.open_training()
    assert again.continue_from_base.isChecked() and first.name in again.continue_from_base.text()
    again.epochs.setValue(1)
    again.imgsz.setValue(64)
    with qtbot.waitSignal(again.finished_with, timeout=300_000) as outcome:
        again.start()
    assert outcome.args == ["done"], again.log.toPlainText()[-2000:]
    assert again.train_args("d.yaml")[-2:] == ["--model-cfg", str(first)]
    card = json.loads(again.model_path.with_suffix(".json").read_text())
    assert card["model_cfg"] == str(first)
    again.continue_from_base.setChecked(False)
    assert "--model-cfg" not in again.train_args("d.yaml")
    store.close()
