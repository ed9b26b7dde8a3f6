"""Where to print each detection's label so that no label covers another label or another box.

Two detections that touch used to print "excess 0.38" over "insufficient 0.12". The layout is the
classic greedy one cartographers use: each label tries a fixed list of positions around its own box
(above, below, beside, inside), the first that collides with nothing wins; when all collide, the label
is nudged step by step away from its best candidate until it is free. Labels placed earlier are never
moved, so the most important detections (placed first) keep the best positions. Pure geometry: the
console measures text with Qt and draws; this module decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LabelPlacement", "Rect", "overlap_area", "place_labels"]

Rect = tuple[float, float, float, float]
"""x, y, width, height."""


@dataclass(frozen=True, slots=True)
class LabelPlacement:
    rect: Rect
    detached: bool  # not touching its box: draw a leader line from the label to the box
    free: bool  # overlaps no other label (False only when the image has no room left)


def overlap_area(a: Rect, b: Rect) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _clamp(rect: Rect, bounds: Rect) -> Rect:
    x, y, w, h = rect
    bx, by, bw, bh = bounds
    x = min(max(x, bx), max(bx, bx + bw - w))
    y = min(max(y, by), max(by, by + bh - h))
    return (x, y, w, h)


def _candidates(box: Rect, w: float, h: float, gap: float) -> list[Rect]:
    x, y, bw, bh = box
    return [
        (x, y - h - gap, w, h),  # above, left-aligned (the usual place)
        (x, y + bh + gap, w, h),  # below, left-aligned
        (x + bw - w, y - h - gap, w, h),  # above, right-aligned
        (x + bw - w, y + bh + gap, w, h),  # below, right-aligned
        (x + bw + gap, y, w, h),  # right of the box, top
        (x - w - gap, y, w, h),  # left of the box, top
        (x + bw + gap, y + bh - h, w, h),  # right, bottom
        (x - w - gap, y + bh - h, w, h),  # left, bottom
        (x, y, w, h),  # inside, top-left
        (x + bw - w, y + bh - h, w, h),  # inside, bottom-right
    ]


def _touches(a: Rect, b: Rect, gap: float) -> bool:
    grown = (b[0] - gap - 1, b[1] - gap - 1, b[2] + 2 * gap + 2, b[3] + 2 * gap + 2)
    return overlap_area(a, grown) > 0


def place_labels(boxes: Sequence[Rect], sizes: Sequence[tuple[float, float]], bounds: Rect,
                 gap: float = 2.0, max_nudges: int = 400) -> list[LabelPlacement]:
    """One placement per box (same order). ``sizes`` are the labels' (width, height); ``bounds`` the
    drawable area. Earlier boxes win the better positions: pass them most important first."""
    if len(boxes) != len(sizes):
        raise ValueError(f"expected one label size per box, got {len(sizes)} sizes for {len(boxes)} boxes")
    placed: list[Rect] = []
    result: list[LabelPlacement] = []
    for i, (box, (w, h)) in enumerate(zip(boxes, sizes, strict=True)):
        others = [b for j, b in enumerate(boxes) if j != i]

        def cost(rect: Rect, box: Rect = box, others: list[Rect] = others) -> tuple[float, float]:
            on_labels = sum(overlap_area(rect, p) for p in placed)
            on_boxes = sum(overlap_area(rect, b) for b in others) + 0.25 * overlap_area(rect, box)
            return (on_labels, on_boxes)

        candidates = [_clamp(c, bounds) for c in _candidates(box, w, h, gap)]
        scored = [(cost(c), k, c) for k, c in enumerate(candidates)]
        best_cost, _, best = min(scored)
        if best_cost[0] > 0 or best_cost[1] > 0:
            best_cost, best = _nudge(best, best_cost, cost, bounds, w, h, max_nudges)
        placed.append(best)
        result.append(LabelPlacement(best, detached=not _touches(best, box, gap), free=best_cost[0] == 0))
    return result


def _nudge(start: Rect, start_cost: tuple[float, float], cost: object, bounds: Rect, w: float, h: float,
           max_nudges: int) -> tuple[tuple[float, float], Rect]:
    """Spiral out from ``start`` in label-sized steps; the first position free of labels and boxes wins,
    else the one with the least overlap (labels first, then boxes)."""
    best_cost, best = start_cost, start
    step_x, step_y = max(4.0, w / 2), max(4.0, h / 2 + 1)
    tried = 0
    ring = 1
    while tried < max_nudges and ring < 64:
        for dx in range(-ring, ring + 1):
            for dy in range(-ring, ring + 1):
                if max(abs(dx), abs(dy)) != ring:
                    continue
                rect = _clamp((start[0] + dx * step_x, start[1] + dy * step_y, w, h), bounds)
                c = cost(rect)  # type: ignore[operator]
                tried += 1
                # prefer free of labels, then little box overlap, then near the start (ring order)
                if c < best_cost:
                    best_cost, best = c, rect
                    if c == (0.0, 0.0):
                        return best_cost, best
        if best_cost[0] == 0 and ring >= 3:
            return best_cost, best  # free of labels and close by: good enough, stop spiralling
        ring += 1
    return best_cost, best
