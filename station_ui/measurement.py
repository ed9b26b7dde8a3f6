"""Console pieces for measuring in mm: the cameras' calibration dates and the recipe's acceptance zones.

Display only: what is calibrated and where the zones lie come from `inspection.domain.measure`."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import QLabel, QWidget

from inspection.config import StationConfig
from inspection.domain.measure import calibration_status, zone_outlines
from inspection.domain.recipe import load_recipe
from inspection.errors import StationError
from station_ui.widgets import FrameView

__all__ = ["CalibrationLabel", "show_recipe_zones"]


class CalibrationLabel(QLabel):
    """Status-bar text: each camera's calibration date and scale, or that it has none."""

    def __init__(self, config: StationConfig | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.refresh()

    def refresh(self) -> None:
        if self.config is None:
            self.setText("")
            return
        cameras = [str(getattr(c, "id", "")) for c in self.config.cameras]
        parts = []
        for camera, found in calibration_status(self.config.calibrations_dir, cameras):
            if found is None:
                parts.append(self.tr("{0}: not calibrated").format(camera))
            else:
                parts.append(self.tr("{0}: calibrated {1} ({2:.4f} mm/px)").format(
                    camera, found.created_at.strftime("%Y-%m-%d %H:%M"), found.mm_per_px))
        self.setText("  " + " · ".join(parts) + "  ")
        self.setToolTip(self.tr("Camera calibrations in {0} (station calibrate)").format(
            self.config.calibrations_dir))


def show_recipe_zones(views: dict[str, FrameView], config: StationConfig, recipe_path: Path) -> None:
    """Draw the recipe's zones on each camera view (nothing when the recipe has none or cannot be read)."""
    try:
        recipe = load_recipe(recipe_path)
    except StationError:
        recipe = None
    for camera_id, view in views.items():
        view.set_zones(zone_outlines(recipe, camera_id, config.calibrations_dir) if recipe is not None else [])
