"""Draw an anomaly map over the part image (for the console and reports; no Qt here)."""

from __future__ import annotations

import cv2
import numpy as np

from inspection.anomaly.runtime import AnomalyResult

__all__ = ["heatmap_overlay"]


def heatmap_overlay(image: np.ndarray, result: AnomalyResult, border_px: int = 0, alpha: float = 0.45) -> np.ndarray:
    """BGR image with the map blended in: blue = typical good, green-yellow = the threshold, red = 2× it.

    Colours are fixed to the model's threshold (not to each map's own range), so a good part stays blue
    instead of having its largest harmless variation painted red. Regions at/above the threshold are
    outlined in white, except in the model's unscored border (`meta.border_px`).
    """
    bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = bgr.shape[:2]
    amap = cv2.resize(result.anomaly_map, (w, h), interpolation=cv2.INTER_LINEAR)
    level = np.clip(amap / (2.0 * max(result.threshold, 1e-9)), 0.0, 1.0)
    colours = cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_JET)
    out = cv2.addWeighted(bgr, 1.0 - alpha, colours, alpha, 0.0)
    mask = cv2.resize(result.mask(border_px), (w, h), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out
