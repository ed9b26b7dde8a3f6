"""The console in the operator's language: Qt's translation system over Qt Linguist `.ts` catalogues.

Every user-visible string goes through ``self.tr()`` / ``QCoreApplication.translate()``; `pylupdate6`
(ships with PyQt6) extracts them into ``station_ui/i18n/station_<lang>.ts``, which translators edit with
Qt Linguist or any XML editor. Qt's `lrelease` (to compile `.qm`) is not part of PyQt6 and not
installable from PyPI without Qt's tools, so :class:`TsTranslator` — a ``QTranslator`` whose
``translate()`` is answered from the parsed `.ts` — loads the catalogue directly: nothing to compile,
the file under version control is the file in use. Unfinished and obsolete entries are not used.

Choosing the language: ``station console --lang de`` > ``language: de`` in the station YAML > the
console's Language menu (remembered) > English.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from PyQt6.QtCore import QCoreApplication, QTranslator

__all__ = ["CATALOGUE_DIR", "LANGUAGES", "TsTranslator", "catalogue_path", "install_language", "read_catalogue"]

CATALOGUE_DIR = Path(__file__).with_name("i18n")
LANGUAGES = {"en": "English", "de": "Deutsch"}
"""Languages the console offers (English is the source language: no catalogue)."""


def catalogue_path(language: str) -> Path:
    return CATALOGUE_DIR / f"station_{language}.ts"


def read_catalogue(path: Path, finished_only: bool = True) -> dict[tuple[str, str], str]:
    """(context, source) → translation from a Qt Linguist .ts file."""
    catalogue: dict[tuple[str, str], str] = {}
    root = ET.parse(path).getroot()
    for context in root.iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            source = message.findtext("source")
            translation = message.find("translation")
            if source is None or translation is None:
                continue
            if finished_only and translation.get("type") in ("unfinished", "obsolete", "vanished"):
                continue
            if translation.text:
                catalogue[(name, source)] = translation.text
    return catalogue


class TsTranslator(QTranslator):
    """A QTranslator answered from a .ts catalogue (no .qm compilation needed)."""

    def __init__(self, path: Path, parent: object = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.path = path
        self.catalogue = read_catalogue(path)

    def translate(self, context: str | None, source: str | None, disambiguation: str | None = None,
                  n: int = -1) -> str | None:
        return self.catalogue.get((context or "", source or ""))  # None: Qt shows the source text

    def isEmpty(self) -> bool:
        return not self.catalogue


_installed: list[TsTranslator] = []


def install_language(language: str | None) -> str:
    """Install the catalogue of ``language`` on the running application (before widgets are built).
    Returns the language in effect ("en" when none or unknown)."""
    app = QCoreApplication.instance()
    for old in _installed:
        if app is not None:
            app.removeTranslator(old)
    _installed.clear()
    if not language or language == "en" or app is None:
        return "en"
    path = catalogue_path(language)
    if not path.is_file():
        return "en"
    translator = TsTranslator(path, app)
    app.installTranslator(translator)
    _installed.append(translator)
    return language
