"""PyQt6 operator console. Displays and forwards; holds no inspection logic.

Importing this package first neutralises the Qt plugin path that `import cv2` (opencv-python) sets: its
bundled plugins are built for another Qt and would make the console fail to start on a desktop.
"""

from station_ui.qtenv import prepare_qt_environment

prepare_qt_environment()

__all__ = ["prepare_qt_environment"]
