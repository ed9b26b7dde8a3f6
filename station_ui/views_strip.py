"""The views of one part side by side (History tab): one small image per camera, with its verdict.

Reads through `inspection.records.history` (`part_views`, `detections_of`); no SQL here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
from PyQt6.QtCore import QCoreApplication
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inspection.errors import StationError
from inspection.records.history import detections_of, part_views
from station_ui.widgets import FrameView, Overlay

__all__ = ["ViewsStrip"]


class ViewsStrip(QWidget):
    """Hidden for a part with one view; otherwise every view of it, side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("")
        self.row = QHBoxLayout()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(self.row)
        self.views: list[FrameView] = []
        self.setVisible(False)

    def show_part(self, store: Any, inspection_id: int) -> int:
        """Show the views of the part of row `inspection_id`; returns how many there are."""
        for view in self.views:
            self.row.removeWidget(view)
            view.deleteLater()
        self.views = []
        try:
            rows = part_views(store, inspection_id)
        except StationError as exc:
            self.title.setText(str(exc))
            return 0
        self.setVisible(len(rows) > 1)
        if len(rows) <= 1:
            return len(rows)
        self.title.setText(QCoreApplication.translate("ViewsStrip", "{n} views of this part").format(n=len(rows)))
        for row in rows:
            view = FrameView(f"{row['camera_id']}: {row['verdict']}")
            image = cv2.imread(row["image_path"]) if row["image_path"] and Path(row["image_path"]).is_file() else None
            overlays = [Overlay(str(d["class_name"]), (d["x1"], d["y1"], d["x2"], d["y2"]), d["polygon"],
                                bool(d["counted"]), str(d["class_name"])) for d in detections_of(store, row["id"])
                        if d["valid"]]
            view.set_image(image, overlays, f"{row['camera_id']} {row['verdict']}")
            self.row.addWidget(view)
            self.views.append(view)
        return len(rows)
