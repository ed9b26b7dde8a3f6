"""Dark and light palettes (Fusion style): high contrast for the shop floor."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QFont, QPalette
from PyQt6.QtWidgets import QApplication, QLabel

__all__ = ["THEMES", "apply_theme", "show_message"]

THEMES = ("dark", "light")

_DARK = {
    QPalette.ColorRole.Window: "#1b1f24", QPalette.ColorRole.WindowText: "#eceff1",
    QPalette.ColorRole.Base: "#12161a", QPalette.ColorRole.AlternateBase: "#22282e",
    QPalette.ColorRole.Text: "#eceff1", QPalette.ColorRole.Button: "#2b323a",
    QPalette.ColorRole.ButtonText: "#eceff1", QPalette.ColorRole.Highlight: "#1976d2",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#263238",
    QPalette.ColorRole.ToolTipText: "#eceff1", QPalette.ColorRole.PlaceholderText: "#78909c",
}


def apply_theme(app: QApplication, theme: str) -> None:
    if theme not in THEMES:
        raise ValueError(f"theme {theme!r}: expected one of {', '.join(THEMES)}")
    app.setStyle("Fusion")
    palette = app.style().standardPalette()
    if theme == "dark":
        for role, colour in _DARK.items():
            palette.setColor(role, QColor(colour))
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
            palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5f6b73"))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSize(max(font.pointSize(), 11))  # readable standing at the line
    app.setFont(font)
    try:
        import pyqtgraph as pg

        pg.setConfigOptions(background="#12161a" if theme == "dark" else "w",
                            foreground="#eceff1" if theme == "dark" else "k", antialias=True)
    except ImportError:  # pragma: no cover - pyqtgraph is a dependency
        pass


def show_message(label: QLabel, text: str, ok: bool) -> None:
    """An outcome under a button: the core's refusal in red (through the palette: a style sheet would drop the
    label's font), a success in the theme's text colour."""
    label.setText(text)
    palette = QApplication.palette()
    if not ok:
        palette.setColor(QPalette.ColorRole.WindowText, QColor("#ef5350"))
    label.setPalette(palette)
