"""Make Qt start reliably next to opencv-python.

opencv-python's `cv2/__init__.py` sets QT_QPA_PLATFORM_PLUGIN_PATH and QT_QPA_FONTDIR to its own
bundled Qt (for cv2.imshow). PyQt6 would then try those plugins first and, on a desktop, fail with
"could not load the Qt platform plugin". We import cv2 once (so its side effect has happened) and then
drop whatever it pointed into its own folder, before any QApplication exists.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["prepare_qt_environment"]

_CV2_QT_VARS = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR", "QT_PLUGIN_PATH")


def prepare_qt_environment() -> list[str]:
    """Remove Qt variables that point into the cv2 package. Returns the names removed."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - cv2 is a core dependency
        return []
    cv2_dir = str(Path(cv2.__file__).resolve().parent)
    removed = []
    for name in _CV2_QT_VARS:
        value = os.environ.get(name)
        if value and cv2_dir in str(Path(value).resolve()):
            del os.environ[name]
            removed.append(name)
    return removed
