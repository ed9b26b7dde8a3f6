"""`station console`: the operator console (also what `station` and `station demo` open)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from inspection.config import StationConfig
from inspection.demo import PRODUCTS
from station_ui.qtenv import prepare_qt_environment

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
    return _exec(app, window)


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
@click.option("--require-login", is_flag=True, help="Nobody is logged in at start (no standing operator session).")
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
