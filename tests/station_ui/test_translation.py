"""The console in German: every user-visible string comes from the catalogue, and the catalogue covers
every tr() call in station_ui (a new tab's strings show up here until they are translated)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyqtgraph as pg
import pytest
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTabWidget,
    QWidget,
)

from station_ui.i18n import LANGUAGES, catalogue_path, install_language, read_catalogue

pytestmark = pytest.mark.ui

REPO = Path(__file__).resolve().parents[2]
# Words that are the same in German or are codes, not prose: verdict codes travel to the PLC and the log,
# "SPC", "Live", "Heatmap" are what German quality engineers say; units and key names.
NOT_PROSE = {"PASS", "FAIL", "ERROR", "REVIEW", "SPC", "Live", "fps", "ms", "Strg", "Alt", "F5", "F6", "F7",
             "Start", "Pause", "Heatmap", "Labels", "PNG", "CSV", "PIN", "OEG", "UEG", "Nelson", "mAP"}


def _strip_html(text: str) -> str:
    return re.sub(r"<[^>]+>", " ", text)


def visible_texts(root: QWidget) -> list[tuple[str, str]]:
    """(where, text) for every text a user can see or hover in this window."""
    found: list[tuple[str, str]] = [("window title", root.windowTitle())]
    for w in [root, *root.findChildren(QWidget)]:
        name = f"{type(w).__name__} {w.objectName()}".strip()
        if w.toolTip():
            found.append((f"{name} tooltip", w.toolTip()))
        if isinstance(w, QLabel | QAbstractButton):
            found.append((name, w.text()))
        elif isinstance(w, QGroupBox):
            found.append((name, w.title()))
        elif isinstance(w, QLineEdit):
            found.append((f"{name} placeholder", w.placeholderText()))
        elif isinstance(w, QSpinBox):
            found.append((f"{name} prefix/suffix", w.prefix() + w.suffix()))
        elif isinstance(w, QTabWidget):
            found += [(f"{name} tab", w.tabText(i)) for i in range(w.count())]
        elif isinstance(w, QComboBox) and w.property("data_items") is None:
            found += [(f"{name} item", w.itemText(i)) for i in range(w.count())]
        elif isinstance(w, QTableWidget):
            found += [(f"{name} header", w.horizontalHeaderItem(i).text()) for i in range(w.columnCount())
                      if w.horizontalHeaderItem(i) is not None]
        elif isinstance(w, pg.PlotWidget):
            item = w.getPlotItem()
            found.append((f"{name} title", item.titleLabel.text))
            found += [(f"{name} axis", item.getAxis(a).labelText) for a in ("left", "bottom")]
    for action in root.findChildren(QAction):
        found += [("action", action.text()), ("action tooltip", action.toolTip())]
    return [(where, text) for where, text in found if text]


def untranslated(texts: list[tuple[str, str]], translations: list[str], data: set[str]) -> list[tuple[str, str]]:
    """Texts with English prose left after removing every German translation and every data value."""
    # Qt derives an action's tooltip from its text without the trailing ellipsis: match both forms
    pieces = {p.replace("&", "").strip() for p in (*translations, *data)}
    pieces |= {p.rstrip("…").rstrip(".").strip() for p in pieces}
    pieces = sorted(pieces - {""}, key=len, reverse=True)
    patterns = [re.compile(".*?".join(re.escape(part) for part in re.split(r"\{\d+(?::[^}]*)?\}", p)))
                for p in pieces]
    left = []
    for where, text in texts:
        rest = _strip_html(text).replace("&", "")
        for pattern in patterns:
            rest = pattern.sub(" ", rest)
        words = [w for w in re.findall(r"[A-Za-zÄÖÜäöüß]{2,}", rest) if w not in NOT_PROSE]
        if words:
            left.append((where, text))
    return left


def test_the_console_in_german_has_no_english_left(qtbot, make_window, console_config) -> None:
    assert install_language("de") == "de"
    try:
        window = make_window(console_config)
        for i in range(window.tabs.count()):  # visit every tab: some are built on first visit
            window.tabs.setCurrentIndex(i)
            qtbot.wait(10)
        catalogue = read_catalogue(catalogue_path("de"))
        data = {console_config.name, *(window.recipe_combo.itemText(i) for i in range(window.recipe_combo.count())),
                *(c.id for c in console_config.cameras), "operator", str(window.db_path), Path(window.db_path).name,
                *LANGUAGES.values()}
        texts = visible_texts(window)
        left = untranslated(texts, list(catalogue.values()), data)
        assert not left, "untranslated console strings (wrap in self.tr(), run pylupdate6, translate):\n" + \
            "\n".join(f"  {where}: {text!r}" for where, text in left)
        assert window.tabs.tabText(1) == "SPC (Strg+2)" and window.counters.values  # German is really on
        assert any(text == "Geprüft" for _, text in texts)
    finally:
        install_language("en")


def test_every_tr_string_in_the_console_is_in_the_german_catalogue(tmp_path: Path) -> None:
    tool = shutil.which("pylupdate6") or str(Path(sys.executable).parent / "pylupdate6")
    if not Path(tool).exists() and shutil.which("pylupdate6") is None:
        pytest.skip("pylupdate6 (ships with PyQt6) not found")
    fresh = tmp_path / "fresh.ts"
    sources = sorted(str(p) for p in (REPO / "station_ui").glob("*.py"))
    subprocess.run([tool, "--no-obsolete", *sources, "-ts", str(fresh)], check=True, capture_output=True, timeout=120)
    in_code = set(read_catalogue(fresh, finished_only=False)) | {
        (c, s) for c, s in _all_sources(fresh)}
    translated = set(read_catalogue(catalogue_path("de")))
    missing = sorted(in_code - translated)
    assert not missing, ("strings without a German translation (run: pylupdate6 --no-obsolete station_ui/*.py "
                         "-ts station_ui/i18n/station_de.ts, then translate them):\n"
                         + "\n".join(f"  [{c}] {s!r}" for c, s in missing))


def _all_sources(path: Path) -> set[tuple[str, str]]:
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    return {(c.findtext("name") or "", m.findtext("source") or "") for c in root.iter("context")
            for m in c.iter("message")}
