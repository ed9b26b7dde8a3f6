"""`station console`: the operator console (also what `station` and `station demo` open)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from inspection.demo import PRODUCTS
from station_ui.qtenv import prepare_qt_environment

__all__ = ["console", "launch"]


def launch(config_path: Path | None = None, product: str | None = None, db: Path | None = None,
           autostart: bool = False, require_login: bool = False, theme: str | None = None) -> int:
    """Open the console; returns the Qt exit code. Errors in the configuration are raised before any window."""
    prepare_qt_environment()
    from PyQt6.QtWidgets import QApplication

    from inspection.config import load_station_config
    from inspection.demo import demo_config_path
    from station_ui.window import LINE_OPERATOR, MainWindow

    config = load_station_config(config_path if config_path else demo_config_path(product or "solder"))
    # A real station (--config) asks for a login unless its YAML says `security: {require_login: false}`;
    # the bundled demo stays open.
    require_login = require_login or (config_path is not None and config.security.require_login)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Inspection station")
    window = MainWindow(config, db or config.db_path, user=None if require_login else LINE_OPERATOR, theme=theme)
    window.show()
    if autostart:
        window.start()
    return _exec(app, window)


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
def console(config_path: Path | None = None, product: str | None = None, db: Path | None = None,
            autostart: bool | None = None, require_login: bool = False, theme: str | None = None) -> None:
    """Open the operator console: live view, verdicts, SPC, history, overrides."""
    if autostart is None:
        autostart = config_path is None
    code = launch(config_path, product, db, autostart, require_login, theme)
    if code:
        sys.exit(code)
