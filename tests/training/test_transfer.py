"""Real solder-joint crops are placed like joints of the synthetic boards."""

from __future__ import annotations

import numpy as np

from training.transfer import REAL_TO_SYNTHETIC, TransferRow, _canvas, transfer_table


def test_canvas_scales_and_centres_the_crop() -> None:
    crop = np.zeros((30, 60, 3), np.uint8)
    crop[:, :30] = 255
    canvas = _canvas(crop, 320, 96)
    assert canvas.shape == (320, 320, 3)
    bright = np.nonzero(canvas[..., 0] == 255)
    assert bright[1].min() == 112 and bright[1].max() in (158, 159)  # left half of a 96 px wide joint
    assert bright[0].min() == 136 and bright[0].max() == 183


def test_mapping_and_table() -> None:
    assert REAL_TO_SYNTHETIC["short"] == "bridge" and REAL_TO_SYNTHETIC["normal"] is None
    table = transfer_table([TransferRow("short", "bridge", 10, 0.5, 0.2)])
    assert "| short | bridge | 10 | 0.50 | 0.20 |" in table
