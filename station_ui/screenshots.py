"""Save screenshots of the console's main views over the real bundled demo (for the README).

    python -m station_ui.screenshots [--out docs/screenshots] [--parts 150]
    python -m station_ui.screenshots --heatmap [--parts 14]     # the paint demo with the anomaly heat map on
    python -m station_ui.screenshots --approvals                # Models tab and controller proposals
    python -m station_ui.screenshots --health --parts 1300       # Health tab over a defocusing process twin

Runs the demo station (replay camera over the bundled solder parts, looped, and the bundled model)
in an offscreen console, then grabs the live view, a failure, SPC, history with an override, the
review queue, the controller panel and the light theme. Nothing is simulated: every verdict shown
was made by the model. The database and settings go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from inspection.demo import PRODUCTS

__all__ = ["main", "take_approval_screenshots", "take_health_screenshot", "take_heatmap_screenshot",
           "take_screenshots"]


def _wait(app, condition, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def _settle(app, seconds: float = 0.3) -> None:  # type: ignore[no-untyped-def]
    _wait(app, lambda: False, seconds)


def _open_demo(parts: int, product: str, model: Path | None, config_path: Path | None, loop: bool = True):  # type: ignore[no-untyped-def]
    """An offscreen console over the demo station (database and settings in a temporary folder), shown."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from station_ui.qtenv import prepare_qt_environment

    prepare_qt_environment()
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from inspection.config import load_station_config
    from inspection.demo import demo_config_path
    from station_ui.window import MainWindow

    work = Path(tempfile.mkdtemp(prefix="console-shots-"))
    config_path = config_path or demo_config_path(product)
    base = load_station_config(config_path)
    camera = base.cameras[0].model_dump()
    camera.update(loop=loop, max_parts=parts, rate_hz=None)
    overrides = {"data_dir": str(work), "cameras": [camera]}
    if model is not None:  # another model file than the recipe's (e.g. a candidate from training)
        overrides["detector"] = {"kind": "ultralytics", "model": str(model.resolve())}
    config = load_station_config(config_path, overrides)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(work / "console.ini"), QSettings.Format.IniFormat)
    window = MainWindow(config, work / "station.db", settings=settings, theme="dark")
    window.resize(1400, 900)
    window.show()
    return app, window


def _run_demo(app, window) -> None:  # type: ignore[no-untyped-def]
    window.start()
    if not _wait(app, lambda: window.state in ("finished", "error"), timeout_s=600):
        raise SystemExit("the demo did not finish within 10 minutes")
    _settle(app, 1.0)
    if window.state == "error":
        raise SystemExit(f"the demo station did not run: {window.state_label.text()}")


def take_heatmap_screenshot(out: Path, parts: int = 14, config_path: Path | None = None) -> list[Path]:
    """The paint demo (YOLO + anomaly model) with the heat map on: the live view after `parts` panels (pick a
    count whose last panel is defective) and the first failure's full view."""
    app, window = _open_demo(parts, "paint", None, config_path, loop=False)
    window.set_heatmap(True)
    _run_demo(app, window)
    saved = [out / "console_heatmap.png"]
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(saved[0]))
    if window.failures.count():
        dialog = window.show_failure(window.failures.inspections[0])
        _settle(app)
        saved.append(out / "failure_heatmap.png")
        dialog.grab().save(str(saved[-1]))
        dialog.close()
    window.shutdown()
    window.close()
    return saved


def _fill_registry(root: Path, work: Path) -> str:
    """The bundled models as production models of their products (with the held-out metrics of their cards),
    and for solder the longer training run of docs/models.md ("Not shipped") as a candidate. It was not shipped, so
    its file here is a stand-in (a copy of the bundled model with one extra archive entry) carrying the
    metrics measured for it. Returns the candidate's id."""
    import json
    import shutil
    import zipfile

    from inspection.demo import DEMO_DIR
    from inspection.models.registry import ModelRegistry

    registry = ModelRegistry(root)
    try:
        for product, stem in (("solder", "solder_yolov8n"), ("paint", "paint_yolov8n"), ("pcb", "pcb_yolov8n")):
            card = json.loads((DEMO_DIR / "models" / f"{stem}.json").read_text(encoding="utf-8"))
            metrics = {k: float(v) for k, v in card["heldout_metrics"].items() if isinstance(v, int | float)}
            record = registry.register(DEMO_DIR / "models" / f"{stem}.pt", product, metrics=metrics,
                                       dataset_version=card["data_version"],
                                       command=card["command"].replace(str(DEMO_DIR.parents[1]) + "/", ""))
            registry.promote(record.id, "ship")
        stand_in = work / "solder_more_epochs.pt"
        shutil.copyfile(DEMO_DIR / "models" / "solder_yolov8n.pt", stand_in)
        with zipfile.ZipFile(stand_in, "a") as archive:
            archive.writestr(f"{archive.namelist()[0].split('/')[0]}/.data/station_note", "solder +15 epochs stand-in")
        candidate = registry.register(
            stand_in, "solder", dataset_version="4df741d9da10",
            command="python -m training.ship solder --init inspection/demo/models/solder_yolov8n.pt --epochs 15 "
                    "--train 1000 --val 80 --test 150 --threads 1 --final-val-only",
            metrics={"mAP50": 0.921, "mAP50-95": 0.691, "escape_rate": 0.023, "false_reject_rate": 0.065})
        return candidate.id
    finally:
        registry.close()


def _advise_controller(db: Path, max_parts: int = 3000):  # type: ignore[no-untyped-def]
    """The solder process twin (its typical drift) under the bundled controller in advise mode, logging into
    the console's database; parts are made by the twin until its first proposal waits for approval."""
    from inspection.domain.types import VerdictStatus
    from inspection.process.config import default_controller_config
    from inspection.process.controller import Controller, PartResult
    from inspection.process.store import ProcessLog
    from inspection.simulation.twin import ProcessTwin
    from inspection.simulation.twin_process import InProcessTwin

    twin = ProcessTwin("solder", seed=0)
    log = ProcessLog(db)
    controller = Controller(default_controller_config("solder", mode="advise"), InProcessTwin(twin), sink=log,
                            classes=twin.classes).start()

    def make_parts() -> bool:
        for _ in range(max_parts):
            outcome = twin.next_part()
            status = VerdictStatus.FAIL if outcome.defects else VerdictStatus.PASS
            if controller.observe(PartResult(outcome.index, frozenset(outcome.defects), status, "solder_yolov8n",
                                             outcome.actuals, f"solder-{outcome.index:06d}")) is not None:
                return True
        return False

    return controller, log, make_parts


def take_approval_screenshots(out: Path) -> list[Path]:
    """The Models tab (a candidate the gate blocks, and the refusal) and the controller panel with an approved
    change and a proposal waiting, both decided by an engineer logged in to the console."""
    app, window = _open_demo(1, "solder", None, None)
    out.mkdir(parents=True, exist_ok=True)
    from inspection.domain.permissions import Role
    from inspection.people.accounts import Accounts

    assert window.ops is not None and window.config is not None
    accounts = Accounts(window.ops.store)
    admin = accounts.create("admin", Role.ADMIN, "screenshot-admin")
    window.set_user(accounts.create("quality", Role.ENGINEER, "screenshot-eng", by=admin))
    candidate = _fill_registry(window.config.registry_dir, window.db_path.parent)  # type: ignore[union-attr]
    window.tabs.setCurrentWidget(window.models)
    window.models.refresh("solder")
    window.models.select(candidate)
    window.models.promote_button.click()  # the gate blocks it: the core's refusal is shown
    saved = [out / "console_models.png"]
    _settle(app)
    window.grab().save(str(saved[0]))

    controller, log, make_parts = _advise_controller(window.db_path)  # type: ignore[arg-type]
    window.controller.controller_source = lambda: controller
    try:
        if not make_parts():
            raise SystemExit("the solder twin made no proposal in 3000 parts")
        window.tabs.setCurrentWidget(window.controller)
        window.controller.refresh()
        window.controller.approve_button.click()
        make_parts()
        window.controller.refresh()
        saved.append(out / "console_proposals.png")
        _settle(app)
        window.grab().save(str(saved[-1]))
    finally:
        window.controller.controller_source = lambda: None
        log.close()
    window.shutdown()
    window.close()
    return saved


def take_screenshots(out: Path, parts: int = 150, product: str = "solder", model: Path | None = None,
                     config_path: Path | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    app, window = _open_demo(parts, product, model, config_path)
    saved: list[Path] = []

    def grab(widget, name: str) -> None:  # type: ignore[no-untyped-def]
        _settle(app)
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        saved.append(path)

    _run_demo(app, window)
    grab(window, "live")
    if window.failures.count():
        dialog = window.show_failure(window.failures.inspections[0])
        grab(dialog, "failure")
        dialog.close()

    window.tabs.setCurrentWidget(window.spc)
    window.spc.subgroup.setValue(max(5, parts // 15))
    window.spc.refresh()
    grab(window, "spc")

    window.tabs.setCurrentWidget(window.history)
    window.history.verdict.setCurrentText("FAIL")
    window.history.refresh()
    if window.history.rows:
        window.history.table.selectRow(0)
        row = window.history.rows[0]
        dialog = window.request_override(row["id"], row["part_key"], row["verdict"])
        if dialog is not None:
            grab(dialog, "override")
            dialog.verdict.setCurrentText("PASS")
            dialog.reason.setPlainText("flux residue, not a solder ball (checked under the microscope)")
            dialog.accept()
            window.history.table.selectRow(0)
    grab(window, "history")

    from inspection.domain.permissions import Role
    from inspection.people.accounts import Accounts

    assert window.ops is not None
    accounts = Accounts(window.ops.store)
    admin = accounts.create("admin", Role.ADMIN, "screenshot-admin")
    engineer = accounts.create("quality", Role.ENGINEER, "screenshot-eng", by=admin)
    window.set_user(engineer)
    window.tabs.setCurrentWidget(window.review)
    window.review.refresh()
    grab(window, "review")
    window.tabs.setCurrentWidget(window.controller)
    grab(window, "controller")

    window.tabs.setCurrentIndex(0)
    window.set_theme("light")
    grab(window, "live_light")
    window.shutdown()
    window.close()
    return saved


def take_health_screenshot(out: Path, parts: int = 1300, scenario: str = "defocus", rate: float = 2.4) -> list[Path]:
    """The Health tab over a health scenario of the process twin (real model and judge; see docs/health.md),
    degrading 3x faster than the documented scenario so that a short run shows warning, forecast and alarm."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from station_ui.qtenv import prepare_qt_environment

    prepare_qt_environment()
    from PyQt6.QtWidgets import QApplication

    from inspection.simulation.health_scenarios import simulate_health
    from station_ui.health_view import HealthView
    from station_ui.theme import apply_theme

    run = simulate_health(scenario, parts, rate=rate)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app, "dark")  # type: ignore[arg-type]
    view = HealthView()
    view.resize(1400, 900)
    view.show()
    view.set_monitor(run.monitor)
    _settle(app, 0.5)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "health.png"
    view.grab().save(str(path))
    view.close()
    return [path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    parser.add_argument("--parts", type=int, default=150, help="parts to inspect before the screenshots")
    parser.add_argument("--product", default="solder", choices=PRODUCTS)
    parser.add_argument("--model", type=Path, help="model file instead of the recipe's")
    parser.add_argument("--config", type=Path, help="station YAML instead of the bundled demo")
    parser.add_argument("--heatmap", action="store_true",
                        help="only the paint demo with the anomaly heat map on (console_heatmap.png)")
    parser.add_argument("--health", action="store_true", help="only the Health tab over a defocusing twin (health.png)")
    parser.add_argument("--approvals", action="store_true",
                        help="only the Models tab and the controller proposals (console_models.png, "
                             "console_proposals.png)")
    args = parser.parse_args(argv)
    if args.health:
        shots = take_health_screenshot(args.out, args.parts)
    elif args.approvals:
        shots = take_approval_screenshots(args.out)
    else:
        shots = (take_heatmap_screenshot(args.out, args.parts, args.config) if args.heatmap
                 else take_screenshots(args.out, args.parts, args.product, args.model, args.config))
    for path in shots:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
