"""The console's Language menu: the choice is remembered and applies from the next start."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QCoreApplication, QSettings
from PyQt6.QtWidgets import QMenu, QToolButton, QWidget

from station_ui.i18n import LANGUAGES

__all__ = ["language_button"]


def language_button(parent: QWidget, settings: QSettings, notify: Callable[[str], None]) -> QToolButton:
    """A toolbar button with one entry per language, each named in its own language."""
    button = QToolButton(parent)
    button.setText(QCoreApplication.translate("LanguageMenu", "Language"))
    button.setToolTip(QCoreApplication.translate("LanguageMenu", "Console language (applies at the next start)"))
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QMenu(button)
    current = str(settings.value("language", "") or "en")
    for code, name in LANGUAGES.items():
        action = menu.addAction(name)
        action.setCheckable(True)
        action.setChecked(code == current)

        def choose(_checked: bool = False, code: str = code) -> None:
            settings.setValue("language", code)
            for other in menu.actions():
                other.setChecked(other.text() == LANGUAGES[code])
            notify(QCoreApplication.translate("LanguageMenu", "Language saved: the console uses it from its "
                                                              "next start."))

        action.triggered.connect(choose)
    button.setMenu(menu)
    button.language_menu = menu  # type: ignore[attr-defined]
    return button
