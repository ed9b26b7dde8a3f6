"""Draw an anomaly map over the part image (for the console and reports; no Qt here).

Two forms of the map: the model's raw float map (`AnomalyResult.anomaly_map`, drawn by `heatmap_overlay`)
and the compact uint8 heat map that travels on `Inspection.heatmap` to listeners and the image archive
(`compact_heatmap` makes it, `blend_heatmap` draws it). Both use the same fixed colours: the value is
scaled to the model's threshold, never to the map's own range.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from inspection.anomaly.runtime import AnomalyResult

__all__ = ["HEAT_AT_THRESHOLD", "HEAT_MAX_PX", "blend_heatmap", "compact_heatmap", "heatmap_legend", "heatmap_overlay"]

HEAT_AT_THRESHOLD = 128  # compact heat value of the model's threshold; 255 = 2× the threshold or more
HEAT_MAX_PX = 128  # longest side of the compact map: 16 kB per part, cheap for queues, the UI and the archive


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


def compact_heatmap(result: AnomalyResult, border_px: int = 0, max_px: int = HEAT_MAX_PX) -> np.ndarray:
    """The map as uint8: `HEAT_AT_THRESHOLD` (128) = the model's threshold, 255 = 2× it, clipped.

    Downscaled by block maximum (not averaging) to at most `max_px` a side, so a small region at/above the
    threshold stays at/above 128. The model's unscored border is set to 0: it cannot make a region, so it
    is not painted as one either.
    """
    if max_px < 1:
        raise ValueError(f"compact_heatmap: max_px must be >= 1, got {max_px}")
    amap = np.asarray(result.anomaly_map, dtype=np.float32)
    if amap.ndim != 2 or amap.size == 0:
        raise ValueError(f"compact_heatmap: expected a non-empty 2-D anomaly map, got shape {amap.shape}")
    scaled = np.nan_to_num(amap * (HEAT_AT_THRESHOLD / max(result.threshold, 1e-9)), nan=0.0, posinf=255.0)
    heat = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if border_px:
        b = border_px
        heat[:b], heat[-b:], heat[:, :b], heat[:, -b:] = 0, 0, 0, 0
    factor = math.ceil(max(heat.shape) / max_px)
    if factor > 1:
        h, w = heat.shape
        padded = np.zeros((math.ceil(h / factor) * factor, math.ceil(w / factor) * factor), np.uint8)
        padded[:h, :w] = heat
        heat = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).max(axis=(1, 3))
    return np.ascontiguousarray(heat)


def blend_heatmap(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45, outline: bool = True) -> np.ndarray:
    """BGR image with a compact heat map (see `compact_heatmap`) blended in, same colours as `heatmap_overlay`.

    Blue = typical good, green-yellow = the model's threshold, red = 2× it; with `outline`, the regions
    at/above the threshold are outlined in white. `image` is uint8 mono or BGR of any size (the map is
    stretched to it, as the model stretched the image to its input).
    """
    if heat.dtype != np.uint8 or heat.ndim != 2 or heat.size == 0:
        raise ValueError(f"blend_heatmap: expected a non-empty 2-D uint8 heat map, got {heat.dtype} {heat.shape}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"blend_heatmap: expected a uint8 mono or BGR image, got {image.dtype} {image.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"blend_heatmap: alpha must be 0..1, got {alpha}")
    bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = bgr.shape[:2]
    level = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    # the raw map's colour index is level/2·threshold·255; heat is map/threshold·128: the same within one step
    colours = cv2.applyColorMap(level, cv2.COLORMAP_JET)
    out = cv2.addWeighted(bgr, 1.0 - alpha, colours, alpha, 0.0)
    if outline:
        mask = (level >= HEAT_AT_THRESHOLD).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out


def heatmap_legend(width_px: int, height_px: int) -> np.ndarray:
    """BGR colour bar of the heat map's fixed scale, left = 0 (typical good) → right = 2× the threshold,
    with a white tick at the threshold (its middle), for a legend beside the image."""
    if width_px < 2 or height_px < 1:
        raise ValueError(f"heatmap_legend: expected at least 2×1 px, got {width_px}×{height_px}")
    ramp = np.linspace(0, 255, width_px).round().astype(np.uint8)
    bar = cv2.applyColorMap(np.tile(ramp, (height_px, 1)), cv2.COLORMAP_JET)
    bar[:, int(np.searchsorted(ramp, HEAT_AT_THRESHOLD))] = 255
    return bar
