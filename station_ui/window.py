"""The console's main window: live view, SPC, history, review queue, controller panel, model registry.

It displays what the bridge emits and forwards what people ask to the core (`Operations` checks the
permission and writes the audit log). It never inspects, judges or blocks on the pipeline.
"""

from __future__ import annotations

import html
import logging
import os
import time
from pathlib import Path

from PyQt6.QtCore import QT_TRANSLATE_NOOP, QByteArray, QCoreApplication, QSettings, Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from inspection.aoi.report import refdes_lines
from inspection.config import StationConfig
from inspection.domain.codes import alarm_title
from inspection.domain.permissions import AccessDenied, Role, User, allowed, require
from inspection.domain.recipe import Recipe, load_recipe
from inspection.domain.types import Inspection
from inspection.errors import CameraError, ConfigError, ModelError, StageFailure, StationError, StoreError
from inspection.models.registry import ModelRegistry
from inspection.people.accounts import Accounts
from inspection.people.audit import Operations
from inspection.process.store import pending_proposals
from inspection.records.history import find_inspection
from inspection.records.samples import SampleKeeper
from inspection.records.store import Store
from station_ui.bridge import AlarmLogHandler, PipelineBridge, alarm_kind_for
from station_ui.controller_view import ControllerView
from station_ui.health_view import HealthView
from station_ui.history_view import HistoryView, OverrideDialog, ReviewView, override_request
from station_ui.language_menu import language_button
from station_ui.line_view import LineView
from station_ui.live_views import LiveViewsStrip
from station_ui.login import LoginDialog, UsersDialog
from station_ui.measurement import CalibrationLabel, show_recipe_zones
from station_ui.model_reload import ModelReloader
from station_ui.models_view import ModelsView
from station_ui.review_panel import ReviewPanel
from station_ui.runner import StationRunner
from station_ui.spc_view import SpcView
from station_ui.theme import apply_theme
from station_ui.widgets import (
    AlarmBanner,
    CounterPanel,
    FailureStrip,
    FrameView,
    VerdictIndicator,
    labelled,
    plain_label,
    shown,
)

__all__ = ["LINE_OPERATOR", "MainWindow", "console_settings"]

log = logging.getLogger(__name__)
STATE_NAMES = {"idle": QT_TRANSLATE_NOOP("MainWindow", "IDLE"),
               "starting": QT_TRANSLATE_NOOP("MainWindow", "STARTING"),
               "running": QT_TRANSLATE_NOOP("MainWindow", "RUNNING"),
               "paused": QT_TRANSLATE_NOOP("MainWindow", "PAUSED"),
               "stopped": QT_TRANSLATE_NOOP("MainWindow", "STOPPED"),
               "finished": QT_TRANSLATE_NOOP("MainWindow", "FINISHED"),
               "error": QT_TRANSLATE_NOOP("MainWindow", "ERROR")}
LINE_OPERATOR = User("operator", Role.OPERATOR)  # the station's standing operator session; others log in
_ERROR_KINDS = ((ModelError, "model"), (CameraError, "camera_error"), (StoreError, "database"),
                (ConfigError, "config"), (StageFailure, "safe_stop"))
_POLLED_SKIP = ("camera_error", "output_error")  # these already arrive through the log handler


def console_settings() -> QSettings:
    """Where the console remembers its layout: $STATION_CONSOLE_SETTINGS (an .ini file; tests use this)
    or the platform's settings store under inspection-station/console."""
    if path := os.environ.get("STATION_CONSOLE_SETTINGS"):
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("inspection-station", "console")


class MainWindow(QMainWindow):
    def __init__(self, config: StationConfig | None, db_path: Path | None = None, *,
                 settings: QSettings | None = None, user: User | None = LINE_OPERATOR, theme: str | None = None,
                 ui_db_timeout_s: float = 0.5) -> None:
        super().__init__()
        self.config = config
        self.db_path = Path(db_path) if db_path else (config.db_path if config else None)
        self.settings = settings or console_settings()
        self.user = self.default_user = user
        self.ops: Operations | None = None
        self.accounts: Accounts | None = None
        self.theme = "dark"
        self.runner: StationRunner | None = None
        self.state = "idle"
        self.last_message = ""
        self._ui_db_timeout_s = ui_db_timeout_s
        self._store: Store | None = None
        self._registry: ModelRegistry | None = None
        self._last_event_id: int | None = None
        self._proposals_seen = 0
        self._shown_this_second = 0
        self.display_fps = 0.0
        app = QApplication.instance()
        if isinstance(app, QApplication):  # before any widget exists, so every widget starts themed
            apply_theme(app, theme or str(self.settings.value("theme", "dark")))
        self.setWindowTitle(self.tr("Inspection station — {0}").format(
            config.name if config else self.tr("no station")))
        self.resize(1400, 900)

        self.bridge = PipelineBridge(parent=self)
        self._log_handler = AlarmLogHandler(self.bridge)
        logging.getLogger("inspection").addHandler(self._log_handler)
        self.bridge.frameReady.connect(self._on_frame)
        self.bridge.frameReady.connect(lambda _: self.live_views.refresh())
        self.bridge.countersChanged.connect(self._on_counters)
        self.bridge.failuresChanged.connect(lambda items: self.failures.set_failures(items))
        self.bridge.alarmRaised.connect(self.raise_alarm)
        self.bridge.stateChanged.connect(self._on_state)

        self._build_toolbar()
        self._build_central()
        self._build_status_bar()
        self._build_shortcuts()
        self._open_store()
        self._restore_settings(theme)
        self._apply_user()
        self._on_state("idle", self.tr("press Start (F5)"))

        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self._tick)
        self._status_timer.start(1000)
        self._poll_timer = QTimer(self)
        self._poll_timer.timeout.connect(self.poll_store)
        self._poll_timer.start(2000)

    # --- building ----------------------------------------------------------------------------------

    def _build_toolbar(self) -> None:
        bar = QToolBar(self.tr("Run"))
        bar.setObjectName("run_toolbar")
        self.addToolBar(bar)
        self.start_action = QAction(self.tr("▶ Start (F5)"), self, shortcut=QKeySequence("F5"), triggered=self.start)
        self.pause_action = QAction(self.tr("‖ Pause (F6)"), self, shortcut=QKeySequence("F6"), triggered=self.pause)
        self.stop_action = QAction(self.tr("■ Stop (F7)"), self, shortcut=QKeySequence("F7"), triggered=self.stop)
        self.model_reloader = ModelReloader(self, self.notify)
        self.model_reloader.action.triggered.connect(self.reload_model)
        for action in (self.start_action, self.pause_action, self.stop_action, self.model_reloader.action):
            bar.addAction(action)
        bar.addSeparator()
        bar.addWidget(QLabel(self.tr(" Recipe ")))
        self.recipe_combo = QComboBox()
        self.recipe_combo.setMinimumWidth(200)
        for path in self._recipe_files():
            self.recipe_combo.addItem(path.stem, str(path))
        self._recipe_index = 0
        self.recipe_combo.activated.connect(self._recipe_chosen)
        bar.addWidget(self.recipe_combo)
        bar.addSeparator()
        self.overlay_action = QAction(self.tr("Boxes (O)"), self, checkable=True, checked=True,
                                      shortcut=QKeySequence("O"), toggled=self.set_overlays)
        self.heatmap_action = QAction(self.tr("Heat map (H)"), self, checkable=True, checked=False,
                                      shortcut=QKeySequence("H"), toggled=self.set_heatmap)
        self.heatmap_action.setToolTip(self.tr(
            "Blend the anomaly model's heat map over the image (anomaly models only): "
            "blue = typical, yellow = the model's threshold, red = twice it"))
        self.theme_action = QAction(self.tr("Light theme (Ctrl+T)"), self, checkable=True,
                                    shortcut=QKeySequence("Ctrl+T"), toggled=self._theme_toggled)
        bar.addAction(self.overlay_action)
        bar.addAction(self.heatmap_action)
        bar.addAction(self.theme_action)
        bar.addSeparator()
        self.user_label = QLabel()
        self.login_action = QAction(self.tr("Log in (Ctrl+L)"), self, shortcut=QKeySequence("Ctrl+L"),
                                    triggered=self.show_login)
        self.logout_action = QAction(self.tr("Log out"), self, triggered=self.logout)
        self.users_action = QAction(self.tr("Accounts…"), self, triggered=self.show_users)
        bar.addWidget(self.user_label)
        for action in (self.login_action, self.logout_action, self.users_action):
            bar.addAction(action)
        bar.addSeparator()
        self.language_button = language_button(self, self.settings, self.notify)
        bar.addWidget(self.language_button)

    def _build_central(self) -> None:
        self.alarm_banner = AlarmBanner()
        self.alarm_banner.acknowledgeRequested.connect(self.acknowledge_alarms)
        self.camera_views: dict[str, FrameView] = {}
        self.camera_grid = QGridLayout()
        camera_box = QWidget()
        camera_box.setLayout(self.camera_grid)
        for camera in (self.config.cameras if self.config else []):
            self._camera_view(camera.id)  # type: ignore[attr-defined]
        self.verdict = VerdictIndicator()
        self.counters = CounterPanel()
        self.failures = FailureStrip()
        self.failures.failureClicked.connect(self.show_failure)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.verdict, 2)
        side_layout.addWidget(self.counters, 1)
        self.live_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.live_splitter.setObjectName("live_splitter")
        self.live_splitter.addWidget(camera_box)
        self.live_splitter.addWidget(side)
        self.live_splitter.setSizes([900, 480])
        live = QWidget()
        live_layout = QVBoxLayout(live)
        live_layout.addWidget(self.live_splitter, 1)
        self.live_views = LiveViewsStrip()  # recipe `views:`: the views of the newest part side by side
        live_layout.addWidget(self.live_views, 1)
        live_layout.addWidget(labelled(self.failures, self.tr("Latest failures (click to inspect)")))

        self.spc = SpcView(user=lambda: self.user)
        self.history = HistoryView(lambda: self.ops)
        self.history.overrideRequested.connect(self.request_override)
        self.history.exportRequested.connect(self.export_history)
        self.review = ReviewView(lambda: self.ops)
        self.review.approve_button.clicked.connect(lambda: self.decide_review("approved"))
        self.review.reject_button.clicked.connect(lambda: self.decide_review("rejected"))
        self.controller = ControllerView(controller=self._live_controller, ops=lambda: self.ops,
                                         user=lambda: self.user)
        for button in (self.controller.approve_button, self.controller.reject_button, self.controller.revert_button):
            button.clicked.connect(lambda: self.notify(self.controller.message.text()))
        self.models = ModelsView(self._model_registry, lambda: self.ops, lambda: self.user)
        for button in (self.models.promote_button, self.models.rollback_button):
            button.clicked.connect(lambda: self.notify(" ".join(self.models.message.text().split())))
        self.samples_tab = QWidget()  # the samples review panel is built on first visit (needs the classes)
        QVBoxLayout(self.samples_tab)
        self.samples_panel: ReviewPanel | None = None
        self.line = LineView(self.config.central if self.config else None)  # the line from the central store
        self.health = HealthView(source=lambda: getattr(self._health_listener(), "monitor", None))
        self.health.baselineRequested.connect(self.set_health_baseline)
        self.tabs = QTabWidget()
        for widget, title in ((live, self.tr("Live (Ctrl+1)")), (self.spc, self.tr("SPC (Ctrl+2)")),
                              (self.history, self.tr("History (Ctrl+3)")), (self.review, self.tr("Review (Ctrl+4)")),
                              (self.controller, self.tr("Controller (Ctrl+5)")),
                              (self.samples_tab, self.tr("Samples && labels (Ctrl+6)")),
                              (self.models, self.tr("Models (Ctrl+7)")), (self.line, self.tr("Line (Ctrl+8)")),
                              (self.health, self.tr("Health (Ctrl+9)"))):
            self.tabs.addTab(widget, title)
        self.tabs.currentChanged.connect(self._tab_changed)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.alarm_banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        self.state_label = QLabel()
        self.rate_label = QLabel()
        # The file name only (the whole path in the tooltip): a long path left the status messages no room.
        self.db_label = QLabel(Path(self.db_path).name if self.db_path else self.tr("no database"))
        self.db_label.setToolTip(str(self.db_path or ""))
        bar = self.statusBar()
        bar.addPermanentWidget(self.state_label)
        bar.addPermanentWidget(self.rate_label)
        bar.addPermanentWidget(self.db_label)
        self.calibration_label = CalibrationLabel(self.config)
        bar.addPermanentWidget(self.calibration_label)

    def _build_shortcuts(self) -> None:
        for i in range(self.tabs.count()):
            QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self, activated=lambda i=i: self.tabs.setCurrentIndex(i))
        QShortcut(QKeySequence("Ctrl+K"), self, activated=self.acknowledge_alarms)

    def _camera_view(self, camera_id: str) -> FrameView:
        view = self.camera_views.get(camera_id)
        if view is None:
            view = self.camera_views[camera_id] = FrameView(camera_id)
            view.set_show_overlays(getattr(self, "overlay_action", None) is None or self.overlay_action.isChecked())
            view.set_show_heatmap(getattr(self, "heatmap_action", None) is not None and self.heatmap_action.isChecked())
            n = len(self.camera_views) - 1
            self.camera_grid.addWidget(view, n // 2, n % 2)
        return view

    def _recipe_files(self) -> list[Path]:
        if self.config is None:
            return []
        current = self.config.recipe
        others = sorted(p for p in current.parent.glob("*.y*ml") if p.resolve() != current.resolve())
        return [current, *others]

    # --- store -------------------------------------------------------------------------------------

    def _open_store(self) -> None:
        if self._store is not None or self.db_path is None:
            return
        try:
            self._store = Store(self.db_path, timeout_s=self._ui_db_timeout_s)
            self.ops = Operations(self._store)
            self.accounts = Accounts(self._store)
            self._last_event_id = self._store.last_event_id()
        except StationError as exc:
            self._store, self.ops, self.accounts = None, None, None
            self.raise_alarm("database", f"history, SPC and overrides unavailable: {exc}")
        self.spc.set_store(self._store)
        self.controller.set_store(self._store)

    def _model_registry(self) -> ModelRegistry | None:
        """The station's model registry (Models tab), opened on first use; None where there is none yet."""
        if self._registry is None and self.config is not None:
            root = self.config.registry_dir
            if (root / "registry.db").is_file():  # viewing must not create a registry folder
                try:
                    self._registry = ModelRegistry(root)
                except (StationError, OSError) as exc:
                    self.notify(f"model registry {root} unavailable: {exc}")
        return self._registry

    def _live_controller(self):  # type: ignore[no-untyped-def]
        """The process controller of the station this console runs (while running or paused), else None."""
        station = self.runner.station if self.runner is not None else None
        feedback = getattr(station, "feedback", None)
        return feedback.controller if feedback is not None else None

    # --- commands (each checked by the core) -------------------------------------------------------

    def _authorized(self, action: str, detail: str = "") -> bool:
        try:
            if self.ops is not None:
                self.ops.authorize(self.user, action, detail)
            else:
                require(self.user, action)
        except AccessDenied as exc:
            self.notify(str(exc))
            return False
        except StoreError as exc:
            self.notify(f"not done: the audit log cannot be written ({exc})")
            return False
        return True

    def start(self) -> None:
        if self.config is None:
            self.notify(self.tr("no station configuration loaded"))
            return
        if self.runner is not None and self.runner.alive and self.runner.state != "paused":
            return
        if not self._authorized("run", "resume" if self.state == "paused" else "start"):
            return
        if self.runner is None or not self.runner.alive:
            if self.state in ("finished", "stopped", "error", "idle"):
                self.bridge.reset()
            recipe = Path(self.recipe_combo.currentData() or self.config.recipe)
            self.calibration_label.refresh()
            show_recipe_zones(self.camera_views, self.config, recipe)
            try:
                views = load_recipe(recipe).views
            except StationError:
                views = None  # the runner reports the bad recipe
            part = self.live_views.follow(views)
            self.runner = StationRunner(
                self.config, db_path=self.db_path, recipe_path=recipe,
                listeners=[self.bridge.on_inspection, *([part.add] if part else [])], on_state=self.bridge.set_state,
                on_error=self._runner_error)
        self.runner.start()

    def _health_listener(self):  # type: ignore[no-untyped-def]
        """The running station's health listener (inspection.health.station), or None when no line runs."""
        station = self.runner.station if self.runner is not None else None
        return getattr(station, "health", None)

    def set_health_baseline(self) -> None:
        from inspection.health.station import set_baseline_as

        if self.ops is None:
            self.notify(self.tr("baseline not set: the station database is not available"))
            return
        try:
            set_baseline_as(self.ops, self.user, self._health_listener())
        except AccessDenied:
            self.notify(self.tr("not allowed: setting the health baseline needs an engineer"))
            return
        except (StationError, ValueError) as exc:
            self.notify(self.tr("baseline not set: {error}").format(error=exc))
            return
        self.notify(self.tr("health baseline set from the recent parts"))
        self.health.refresh()

    def pause(self) -> None:
        if self.runner is not None and self.runner.alive and self._authorized("run", "pause"):
            self.runner.pause()

    def stop(self) -> None:
        if self.runner is not None and self.runner.alive and self._authorized("run", "stop"):
            self.runner.stop()

    def reload_model(self) -> None:
        """The core reloads the model of the open station (refused while inspecting, with its reason)."""
        if self._authorized("reload_model"):
            self.model_reloader.reload(self.runner.station if self.runner is not None else None)

    def _runner_error(self, exc: Exception) -> None:  # worker thread: goes through the bridge
        kind = next((k for cls, k in _ERROR_KINDS if isinstance(exc, cls)), None) or alarm_kind_for(str(exc))
        self.bridge.raise_alarm(kind, str(exc) if isinstance(exc, StationError) else f"{type(exc).__name__}: {exc}")

    def _recipe_chosen(self, index: int) -> None:
        if index == self._recipe_index:
            return
        if self.runner is not None and self.runner.alive:
            self.notify(self.tr("stop the line before switching the recipe"))
        elif self._authorized("select_recipe", self.recipe_combo.itemText(index)):
            self._recipe_index = index
            return
        self.recipe_combo.setCurrentIndex(self._recipe_index)

    def acknowledge_alarms(self) -> None:
        if self.alarm_banner.alarms and self._authorized("acknowledge", ", ".join(self.alarm_banner.alarms)):
            self.alarm_banner.clear_alarms()

    def request_override(self, inspection_id: int, part: str, current: str) -> OverrideDialog | None:
        if not allowed(self.user, "override"):
            self._authorized("override", f"part #{inspection_id}")  # logs the denied attempt, says why
            return None
        dialog = self.override_dialog = OverrideDialog(part, current, self)
        dialog.accepted.connect(lambda: self.submit_override(inspection_id, dialog))
        dialog.open()
        return dialog

    def submit_override(self, inspection_id: int, dialog: OverrideDialog) -> int | None:
        if self.ops is None:
            self.notify(self.tr("verdict database not available: override not stored"))
            return None
        try:
            override_id = self.ops.override(self.user, override_request(dialog, inspection_id))
        except StationError as exc:
            self.notify(str(exc))
            return None
        self.notify(f"override #{override_id} stored; waiting for review")
        self.history.refresh()
        self.review.refresh()
        return override_id

    def decide_review(self, decision: str) -> None:
        try:
            self.review.decide(self.user, decision)
        except StationError as exc:
            self.notify(str(exc))

    def export_history(self, path: Path) -> int | None:
        try:
            return self.history.export_to(path, self.user)
        except (StationError, OSError) as exc:
            self.notify(str(exc))
            return None

    def show_login(self) -> LoginDialog | None:
        if self.accounts is None:
            self.notify(self.tr("accounts unavailable: the verdict database cannot be opened"))
            return None
        dialog = self.login_dialog = LoginDialog(self.accounts, self)
        dialog.accepted.connect(lambda: self.set_user(dialog.user))
        dialog.open()
        return dialog

    def show_users(self) -> UsersDialog | None:
        if self.accounts is None or not self._authorized("manage_users", "open accounts"):
            return None
        dialog = self.users_dialog = UsersDialog(self.accounts, self.user, self)
        dialog.open()
        return dialog

    def set_user(self, user: User | None, action: str = "login") -> None:
        if self.ops is not None:
            try:
                self.ops.audit.record(user if action == "login" else self.user, action)
            except StoreError:
                log.warning("could not audit %s of %s", action, user)
        self.user = user
        self._apply_user()

    def logout(self) -> None:
        """Back to the station's standing session (the line operator, or nobody with --require-login)."""
        self.set_user(self.default_user, "logout")

    def _apply_user(self) -> None:
        who = f"{self.user.username} ({self.user.role})" if self.user else self.tr("not logged in")
        self.user_label.setText(f"  {who}  ")
        engineer = allowed(self.user, "review")
        self.tabs.setTabVisible(3, engineer)
        self.tabs.setTabVisible(5, engineer)
        self.tabs.setTabVisible(self.tabs.indexOf(self.line), engineer and self.line.configured)
        if self.samples_panel is not None:
            self.samples_panel.user = self.user
        self.history.export_button.setEnabled(allowed(self.user, "export"))
        self.users_action.setVisible(allowed(self.user, "manage_users"))
        self.model_reloader.action.setVisible(allowed(self.user, "reload_model"))
        self.logout_action.setVisible(self.user != self.default_user)

    # --- what the bridge reports -------------------------------------------------------------------

    def _on_frame(self, inspection: Inspection) -> None:
        self._camera_view(inspection.frame.camera_id).show_inspection(inspection)
        self.verdict.show_inspection(inspection)
        self._shown_this_second += 1

    def _on_counters(self, snapshot: dict) -> None:
        self.counters.update_counts(snapshot)
        self.rate_label.setText(self.tr("  display {0:.0f} fps · {1:.0f} parts/min · latency {2:.0f} ms "
                                        "(mean {3:.0f})  ")
                                .format(self.display_fps, snapshot.get("parts_per_min", 0),
                                        snapshot.get("latency_ms", 0), snapshot.get("mean_latency_ms", 0)))

    def _on_state(self, state: str, detail: str) -> None:
        self.state = state
        running = state in ("starting", "running")
        self.start_action.setEnabled(not running)
        self.start_action.setText(self.tr("▶ Resume (F5)") if state == "paused" else self.tr("▶ Start (F5)"))
        self.pause_action.setEnabled(state == "running")
        self.stop_action.setEnabled(running or state == "paused")
        self.recipe_combo.setEnabled(not running and state != "paused")
        colour = {"running": "#2e7d32", "error": "#c62828", "paused": "#f9a825"}.get(state, "#546e7a")
        name = self.tr(STATE_NAMES[state]) if state in STATE_NAMES else state.upper()
        self.state_label.setText(f"<b style='color:{colour}'>{name}</b> {html.escape(detail[:80])}")

    def raise_alarm(self, kind: str, message: str) -> None:
        self.alarm_banner.add(kind, QCoreApplication.translate("AlarmKind", alarm_title(kind)), message)

    def notify(self, message: str) -> None:
        self.last_message = message
        self.statusBar().showMessage(message, 10_000)

    def show_failure(self, inspection: Inspection) -> QDialog:
        dialog = self.failure_dialog = QDialog(self)
        dialog.setWindowTitle(f"{inspection.verdict.status} — {inspection.frame.key}")
        dialog.resize(900, 700)
        view = dialog.frame_view = FrameView(inspection.frame.camera_id)  # type: ignore[attr-defined]
        view.set_show_heatmap(self.heatmap_action.isChecked())
        view.show_inspection(inspection)
        view.set_show_overlays(self.overlay_action.isChecked())
        text = plain_label(f"{shown(inspection.verdict.summary, 400)}\n"
                           f"model {inspection.model_id}, recipe {shown(inspection.recipe, 80)}")
        text.setWordWrap(True)
        override = QPushButton(self.tr("Override verdict…"))
        override.clicked.connect(lambda: self._override_live(inspection))
        row = QHBoxLayout()
        row.addWidget(text, 1)
        if inspection.heatmap is not None:  # only where an anomaly model made one
            heat = dialog.heatmap_check = QCheckBox(self.tr("Heat map"))  # type: ignore[attr-defined]
            heat.setChecked(view.show_heatmap)
            heat.toggled.connect(view.set_show_heatmap)
            row.addWidget(heat)
        row.addWidget(override)
        layout = QVBoxLayout(dialog)
        layout.addWidget(view, 1)
        by_refdes = refdes_lines(inspection.defects)
        if any(d.attributes.get("refdes") for d in inspection.defects):  # a board: list failing windows
            dialog.refdes_list = QListWidget()  # type: ignore[attr-defined]
            dialog.refdes_list.addItems(by_refdes)  # type: ignore[attr-defined]
            dialog.refdes_list.setMaximumHeight(160)  # type: ignore[attr-defined]
            layout.addWidget(labelled(dialog.refdes_list, self.tr("Failing windows by reference designator")))  # type: ignore[attr-defined]
        layout.addLayout(row)
        dialog.open()
        return dialog

    def _override_live(self, inspection: Inspection) -> None:
        frame = inspection.frame
        row_id = find_inspection(self.ops.store, frame.key, frame.timestamp_s) if self.ops else None
        if row_id is None:
            self.notify(f"part {inspection.frame.key} is not in the verdict log (database unavailable?)")
            return
        self.request_override(row_id, inspection.frame.key, inspection.verdict.status.value)

    # --- periodic ----------------------------------------------------------------------------------

    def _tick(self) -> None:
        self.display_fps, self._shown_this_second = float(self._shown_this_second), 0
        self.bridge.refresh_counters()
        if self.tabs.currentWidget() is self.spc and int(time.monotonic()) % 10 == 0:
            self.spc.refresh()

    def poll_store(self) -> None:
        """Alarms and controller proposals the store logged (also from other processes)."""
        if self._store is None:
            self._open_store()
            return
        try:
            rows = self._store.alarms_since(self._last_event_id or 0)
        except StoreError:
            return  # the next poll retries; a locked database is also reported by the pipeline
        for row in rows:
            self._last_event_id = row["id"]
            if row["kind"] not in _POLLED_SKIP:
                self.raise_alarm(row["kind"], row["message"])
        try:
            waiting = pending_proposals(self._store)
        except StoreError:
            return
        if waiting > self._proposals_seen:
            self.raise_alarm("controller_proposal", f"{waiting} process change(s) waiting for approval "
                             "(Controller tab)")
        self._proposals_seen = waiting

    def _tab_changed(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if widget is self.line:
            self.line.refresh()
        elif widget is self.spc:
            self.spc.refresh()
        elif widget is self.history:
            self.history.refresh()
        elif widget is self.review:
            self.review.refresh()
        elif widget is self.controller:
            self.controller.refresh()
        elif widget is self.samples_tab:
            self.show_samples()
        elif widget is self.models:
            self.models.refresh()

    def show_samples(self) -> ReviewPanel | None:
        """The retraining review queue: kept samples, accept / reject / relabel in the label editor."""
        if self.samples_panel is None and self._store is not None and self.config is not None:
            try:
                recipe = load_recipe(self.config.recipe)
                keeper = SampleKeeper(self._store, self.config.samples_dir, recipe, self.config.samples)
            except StationError as exc:
                self.notify(f"samples unavailable: {exc}")
                return None
            base = recipe.model or getattr(self.config.detector, "model", None)
            base_model = Path(base) if base and str(base).endswith(".pt") and Path(base).is_file() else None
            self.samples_panel = ReviewPanel(keeper, self._class_names(recipe), self.user, base_model=base_model)
            self.samples_tab.layout().addWidget(self.samples_panel)
        if self.samples_panel is not None:
            self.samples_panel.refresh()
        return self.samples_panel

    def _class_names(self, recipe: Recipe) -> tuple[str, ...]:
        """The running model's classes; before a run, those the recipe and the stored detections name."""
        station = self.runner.station if self.runner is not None else None
        if station is not None and station.detector is not None:
            return tuple(station.detector.class_names)
        stored = self._store.classes_seen() if self._store is not None else []
        return tuple(dict.fromkeys([*recipe.classes, *stored])) or ("defect",)

    # --- look and layout ---------------------------------------------------------------------------

    def set_overlays(self, show: bool) -> None:
        for view in self.camera_views.values():
            view.set_show_overlays(show)
        self.live_views.set_show_overlays(show)

    def set_heatmap(self, show: bool) -> None:
        """Blend the anomaly heat map (where a part has one) over the live images and the history preview."""
        for view in (*self.camera_views.values(), self.history.preview):
            view.set_show_heatmap(show)
        if self.heatmap_action.isChecked() != show:
            self.heatmap_action.setChecked(show)

    def set_theme(self, theme: str) -> None:
        self.theme = theme
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        background = "#12161a" if theme == "dark" else "w"
        for plot in (self.spc.p_plot, self.spc.pareto_plot, self.spc.trend_plot):
            plot.setBackground(background)
        self.theme_action.blockSignals(True)
        self.theme_action.setChecked(theme == "light")
        self.theme_action.blockSignals(False)

    def _theme_toggled(self, light: bool) -> None:
        self.set_theme("light" if light else "dark")

    def _restore_settings(self, theme: str | None) -> None:
        s = self.settings
        if isinstance(geometry := s.value("geometry"), QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state := s.value("window_state"), QByteArray):
            self.restoreState(state)
        if isinstance(split := s.value("live_splitter"), QByteArray):
            self.live_splitter.restoreState(split)
        self.tabs.setCurrentIndex(int(s.value("tab", 0)))
        self.overlay_action.setChecked(s.value("overlays", "true") in ("true", True))
        self.heatmap_action.setChecked(s.value("heatmap", "false") in ("true", True))
        self.set_theme(theme or str(s.value("theme", "dark")))

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState())
        s.setValue("live_splitter", self.live_splitter.saveState())
        s.setValue("tab", self.tabs.currentIndex())
        s.setValue("overlays", "true" if self.overlay_action.isChecked() else "false")
        s.setValue("heatmap", "true" if self.heatmap_action.isChecked() else "false")
        s.setValue("theme", self.theme)
        s.sync()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Stop the line, wait for the worker, release the database. True when the worker ended."""
        ended = self.model_reloader.join(timeout_s)  # a reload in flight finishes before the station closes
        if self.runner is not None:
            self.runner.stop()
            ended = self.runner.join(timeout_s)
        self._status_timer.stop()
        self._poll_timer.stop()
        logging.getLogger("inspection").removeHandler(self._log_handler)
        if self._store is not None:
            self._store.close()
            self._store = None
            self.ops = self.accounts = None
        if self._registry is not None:
            self._registry.close()
            self._registry = None
        return ended

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)
