"""`station console`: the operator console (also what `station` and `station demo` open)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from inspection.config import StationConfig
from inspection.demo import PRODUCTS
from station_ui.qtenv import prepare_qt_environment

if TYPE_CHECKING:
    from PyQt6.QtWidgets import QWidget

__all__ = ["console", "launch"]


def launch(config_path: Path | None = None, product: str | None = None, db: Path | None = None,
           autostart: bool = False, require_login: bool = False, theme: str | None = None,
           once: bool = False, language: str | None = None) -> int:
    """Open the console; returns the Qt exit code. Errors in the configuration are raised before any window.

    Without a config it opens the live demo (inspection.demo.live): the bundled parts loop at line rate,
    a Modbus PLC simulator and the process twin run in this process; ``once`` makes one pass instead."""
    prepare_qt_environment()
    refuse_without_qt()
    from inspection.config import load_station_config
    from inspection.demo import demo_config_path

    if config_path is None and not once:
        from inspection.simulation.live_demo import live_demo

        with live_demo(product or "solder") as live:
            return _open(live.config, db, autostart, require_login, theme, language)
    config = load_station_config(config_path if config_path else demo_config_path(product or "solder"))
    # A real station (--config) asks for a login unless its YAML says `security: {require_login: false}`;
    # the bundled demo stays open.
    require_login = require_login or (config_path is not None and config.security.require_login)
    return _open(config, db, autostart, require_login, theme, language)


def _open(config: StationConfig, db: Path | None, autostart: bool, require_login: bool, theme: str | None,
          language: str | None = None) -> int:
    from PyQt6.QtWidgets import QApplication

    from station_ui.i18n import install_language
    from station_ui.window import LINE_OPERATOR, MainWindow, console_settings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Inspection station")
    # --lang, then the station YAML, then the console's Language menu (remembered); before any widget exists
    install_language(language or config.language or str(console_settings().value("language", "") or ""))
    window = MainWindow(config, db or config.db_path, user=None if require_login else LINE_OPERATOR, theme=theme)
    window.show()
    if autostart:
        window.start()
    with _close_on_stop_signals(window):
        return _exec(app, window)


@contextlib.contextmanager
def _close_on_stop_signals(window: QWidget) -> Iterator[None]:
    """Ctrl-C in the terminal and SIGTERM (systemd, a shutdown) close the window as the operator would:
    the line stops, the log drains, the PLC link closes. Python runs signal handlers only between bytecodes,
    so a timer wakes the interpreter while Qt waits for events."""
    from PyQt6.QtCore import QTimer

    from inspection.adapters.stopping import stop_on_signals

    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)
    try:
        with stop_on_signals(lambda: QTimer.singleShot(0, window.close)):
            yield
    finally:
        wake.stop()


def refuse_without_qt() -> None:
    """When Qt cannot start here, print the doctor's diagnosis (which package to install) and exit 3,
    before a QApplication exists: Qt's own abort names one missing library at a time."""
    from inspection.doctor.checks import format_report, qt_checks

    widgets = sys.modules.get("PyQt6.QtWidgets")
    if widgets is not None and widgets.QApplication.instance() is not None:
        return  # Qt is already running in this process (tests, an embedding application)
    checks = qt_checks()
    if all(c.ok for c in checks):
        return
    click.echo("The console cannot start on this machine:\n", err=True)
    click.echo(format_report(checks), err=True)
    click.echo("\nFull check: station doctor. Without a screen: station demo --headless.", err=True)
    sys.exit(3)


def _exec(app: object, window: object) -> int:
    """Run the Qt event loop until the window closes (tests replace this: a test must not run exec())."""
    return int(app.exec())  # type: ignore[attr-defined]


@click.command()
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Station YAML (default: the bundled demo).")
@click.option("--product", type=click.Choice(PRODUCTS), default=None,
              help="Bundled demo product when no --config is given (default: solder).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite verdict log (default: the station's data directory).")
@click.option("--start/--no-start", "autostart", default=None,
              help="Start inspecting at once (default: yes for the bundled demo).")
@click.option("--require-login", is_flag=True,
              help="Nobody is logged in at start (no standing operator session). Always so with --config, unless "
              "the station YAML sets security.require_login: false.")
@click.option("--theme", type=click.Choice(["dark", "light"]), default=None, help="Colour theme (remembered).")
@click.option("--once", is_flag=True, help="Bundled demo: one pass over the parts instead of looping.")
@click.option("--lang", "language", type=click.Choice(["en", "de"]), default=None,
              help="Console language (default: language: in the station YAML, else the console's setting).")
def console(config_path: Path | None = None, product: str | None = None, db: Path | None = None,
            autostart: bool | None = None, require_login: bool = False, theme: str | None = None,
            once: bool = False, language: str | None = None) -> None:
    """Open the operator console: live view, verdicts, SPC, history, overrides."""
    if autostart is None:
        autostart = config_path is None
    code = launch(config_path, product, db, autostart, require_login, theme, once, language)
    if code:
        sys.exit(code)
