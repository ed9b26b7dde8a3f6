"""Strings other libraries show inside the console, marked here so pylupdate6 puts them in the catalogue
under the library's own translation context (pyqtgraph translates through QCoreApplication)."""

from __future__ import annotations

from PyQt6.QtCore import QT_TRANSLATE_NOOP

from station_ui.i18n import LANGUAGES

EXTRA = (
    QT_TRANSLATE_NOOP("GraphicsScene", "Export..."),
    QT_TRANSLATE_NOOP("ViewBox", "View All"),
    QT_TRANSLATE_NOOP("PlotItem", "Plot Options"),
)

LANGUAGE_NAMES = tuple(LANGUAGES.values())
"""Each language is offered under its own name (never translated)."""
