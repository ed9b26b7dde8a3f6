"""The Live tab's multi-view strip: the views of the newest part side by side (recipe `views:`).

The grouping is the core's (`inspection.domain.part_views.NewestPart`, fed on the pipeline's thread as a
station listener); this widget only draws its snapshot when the bridge says new frames were shown.
Hidden for a recipe without `views:`.
"""

from __future__ import annotations

from PyQt6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inspection.domain.multiview import ViewsConfig
from inspection.domain.part_views import NewestPart
from station_ui.widgets import FrameView

__all__ = ["LiveViewsStrip"]


class LiveViewsStrip(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("")
        self.row = QHBoxLayout()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(self.row)
        self.views: dict[str, FrameView] = {}
        self.part: NewestPart | None = None
        self.shown_key = ""
        self._version = -1
        self.setVisible(False)

    def follow(self, views: ViewsConfig | None) -> NewestPart | None:
        """A new run: one frame view per view of the recipe; returns the grouper to add as a station listener."""
        for view in self.views.values():
            self.row.removeWidget(view)
            view.deleteLater()
        self.views, self.shown_key, self._version = {}, "", -1
        self.part = NewestPart(views) if views is not None else None
        self.setVisible(self.part is not None)
        if self.part is None:
            return None
        for name in self.part.names:
            self.views[name] = FrameView(name)
            self.row.addWidget(self.views[name])
        self.title.setText(self.tr("Newest part: waiting for its views"))
        return self.part

    def refresh(self) -> None:
        snapshot = self.part.newest() if self.part is not None else None
        if snapshot is None or snapshot.version == self._version:
            return
        self._version = snapshot.version
        if snapshot.key != self.shown_key:  # a new part: no view of the previous one stays on screen
            self.shown_key = snapshot.key
            for name, view in self.views.items():
                view.set_image(None, [], self.tr("{0}: waiting").format(name))
        for name, inspection in snapshot.views:
            if inspection is not None:
                self.views[name].show_inspection(inspection)
        n = len(snapshot.views)
        if snapshot.combined is not None:
            self.title.setText(self.tr("Part {0}: {1} views, part verdict {2}").format(
                snapshot.key, n, snapshot.combined.verdict.status))
        else:
            self.title.setText(self.tr("Part {0}: {1} of {2} views").format(snapshot.key, snapshot.arrived, n))

    def set_show_overlays(self, show: bool) -> None:
        for view in self.views.values():
            view.set_show_overlays(show)
