"""Synthetic PCB regions after reflow, seen by an AOI camera under a ring light.

The board is drawn as a height map with materials (solder mask, solder, terminals, bodies, silkscreen) and
shaded by slope: a specular surface reflects a ring light into the top camera only at the slope that
matches the ring's elevation, which is why fillets show up as bands of colour (tri-colour AOI light) or as
dark slopes around bright flats (white ring). Defects change the geometry, not the paint, so the model has
to learn what a bad joint looks like under that light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from inspection.simulation.synthetic._base import PartGenerator, PlacedDefect, smooth_noise
from inspection.simulation.synthetic._draw import Maps, dome, ellipse_polygon, rect_polygon, shade_normals

__all__ = ["SOLDER_CLASSES", "SolderGenerator"]

SOLDER_CLASSES: tuple[str, ...] = (
    "bridge",
    "insufficient",
    "excess",
    "missing",
    "tombstone",
    "shifted",
    "solder_ball",
)

Colour = tuple[float, float, float]
_MASKS: tuple[tuple[Colour, float], ...] = (
    ((0.13, 0.40, 0.10), 0.45),  # green
    ((0.08, 0.24, 0.05), 0.15),  # dark green
    ((0.42, 0.17, 0.04), 0.15),  # blue
    ((0.07, 0.07, 0.07), 0.13),  # black
    ((0.09, 0.10, 0.42), 0.12),  # red
)
_SOLDER: Colour = (0.78, 0.78, 0.80)
_TERMINAL: Colour = (0.70, 0.72, 0.74)
_DULL: Colour = (0.36, 0.50, 0.66)  # unwetted copper / grainy solder
_SILK: Colour = (0.86, 0.88, 0.88)
_IC_BODY: Colour = (0.09, 0.09, 0.10)
_BODIES: tuple[Colour, ...] = ((0.07, 0.07, 0.08), (0.36, 0.50, 0.62), (0.30, 0.38, 0.46), (0.55, 0.60, 0.62))
_RINGS_WHITE = (((0.0, 7.0), (1.0, 1.0, 1.0)), ((26.0, 8.0), (0.5, 0.5, 0.5)))
_RINGS_TRICOLOUR = (
    ((2.0, 6.0), (0.15, 0.2, 1.0)),
    ((15.0, 6.0), (0.2, 1.0, 0.25)),
    ((31.0, 9.0), (1.0, 0.4, 0.15)),
)
_CHIP_CLASSES = frozenset({"missing", "tombstone", "shifted"})


@dataclass(slots=True)
class _Chip:
    """A two-terminal chip (R/C) centred at (cx, cy), along x if ``horizontal``."""

    cx: float
    cy: float
    horizontal: bool
    length: float
    width: float
    body: Colour
    defect: str | None = None
    bad_end: int = 0

    def rect(self, a0: float, a1: float, b0: float, b1: float) -> np.ndarray:
        """Canvas polygon of a rectangle given along-axis (a) and across (b) offsets from the centre."""
        if self.horizontal:
            return rect_polygon(self.cx + a0, self.cy + b0, self.cx + a1, self.cy + b1)
        return rect_polygon(self.cx + b0, self.cy + a0, self.cx + b1, self.cy + a1)

    def pad(self, end: int) -> tuple[float, float]:
        half = self.length / 2
        inner, outer = half - 0.25 * self.length, half + 0.32 * self.length
        return (inner, outer) if end > 0 else (-outer, -inner)

    def footprint(self) -> np.ndarray:
        half = self.length / 2 + 0.32 * self.length
        return self.rect(-half, half, -0.62 * self.width, 0.62 * self.width)


@dataclass(slots=True)
class _IcRow:
    """One side of an SOIC/QFP: the body edge at the top of a cell and gull-wing leads going down."""

    x0: float
    x1: float
    top: float
    n_leads: int
    pitch: float
    defect_lead: dict[int, str] = field(default_factory=dict)

    @property
    def body_bottom(self) -> float:
        return self.top + 0.36 * (self.x1 - self.x0)

    def lead_x(self, i: int) -> float:
        mid = (self.x0 + self.x1) / 2
        return mid + (i - (self.n_leads - 1) / 2) * self.pitch


@dataclass(frozen=True)
class SolderGenerator(PartGenerator):
    """Seeded generator of reflowed PCB regions with solder defects (see ``SOLDER_CLASSES``)."""

    product: str = field(default="solder", init=False)
    classes: tuple[str, ...] = field(default=SOLDER_CLASSES, init=False)
    default_probability: float = field(default=0.15, init=False)

    def _render(
        self, rng: np.random.Generator, shape: tuple[int, int], wanted: Sequence[str]
    ) -> tuple[np.ndarray, list[PlacedDefect]]:
        u = self.unit
        mask_colour = _pick_mask(rng)
        maps = Maps.blank(shape, mask_colour, 0.12)
        chips, ics = self._layout(rng, shape, wanted)
        placed: list[PlacedDefect] = []
        self._board(rng, maps, mask_colour, chips, ics)
        for chip in chips:
            placed += self._chip(rng, maps, chip)
        for ic in ics:
            placed += self._ic(rng, maps, ic)
        if "solder_ball" in wanted:
            placed += self._balls(rng, maps, shape)
        rings = _RINGS_WHITE if self.pixel_format == "mono8" or rng.random() < 0.5 else _RINGS_TRICOLOUR
        return _shade(maps, rings, u), placed

    # -- layout ---------------------------------------------------------------------------------------

    def _layout(
        self, rng: np.random.Generator, shape: tuple[int, int], wanted: Sequence[str]
    ) -> tuple[list[_Chip], list[_IcRow]]:
        n = 5
        cell = shape[0] / n
        chips: list[_Chip] = []
        ics: list[_IcRow] = []
        central: list[_Chip | _IcRow] = []
        need_ic = "bridge" in wanted
        force = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        for row in range(n):
            for col in range(n):
                x0, y0 = col * cell, row * cell
                kind = rng.choice(3, p=[0.62, 0.26, 0.12])
                if need_ic and (row, col) == force:
                    kind = 1
                if kind == 0:
                    item: _Chip | _IcRow = self._new_chip(rng, x0, y0, cell)
                    chips.append(item)
                elif kind == 1:
                    item = self._new_ic(rng, x0, y0, cell)
                    ics.append(item)
                else:
                    continue
                if 1 <= row <= 3 and 1 <= col <= 3:
                    central.append(item)
        self._assign_defects(rng, central, wanted)
        return chips, ics

    def _new_chip(self, rng: np.random.Generator, x0: float, y0: float, cell: float) -> _Chip:
        u = self.unit
        length = float(rng.uniform(36, 54)) * u
        width = length * float(rng.uniform(0.5, 0.62))
        slack = max(cell - 1.64 * length, 2.0) / 2
        cx = x0 + cell / 2 + float(rng.uniform(-slack, slack)) * 0.8
        cy = y0 + cell / 2 + float(rng.uniform(-slack, slack)) * 0.8
        body = _BODIES[int(rng.integers(0, len(_BODIES)))]
        return _Chip(cx, cy, bool(rng.random() < 0.5), length, width, body)

    def _new_ic(self, rng: np.random.Generator, x0: float, y0: float, cell: float) -> _IcRow:
        u = self.unit
        pitch = float(rng.uniform(15, 21)) * u
        n_leads = max(2, min(5, int((cell - 8 * u) // pitch)))
        return _IcRow(x0 + 2 * u, x0 + cell - 2 * u, y0 + float(rng.uniform(0, 6)) * u, n_leads, pitch)

    def _assign_defects(self, rng: np.random.Generator, central: list[_Chip | _IcRow], wanted: Sequence[str]) -> None:
        order = rng.permutation(len(central)) if central else []
        free = [central[int(i)] for i in order]
        for name in wanted:
            if name == "solder_ball":
                continue
            target = _take(free, name)
            if target is None:
                continue
            if isinstance(target, _Chip):
                target.defect = name
                target.bad_end = 1 if rng.random() < 0.5 else -1
            else:
                lead = int(rng.integers(0, target.n_leads - (1 if name == "bridge" else 0)))
                target.defect_lead[lead] = name

    # -- drawing --------------------------------------------------------------------------------------

    def _board(self, rng: np.random.Generator, maps: Maps, mask: Colour, chips: list[_Chip], ics: list[_IcRow]) -> None:
        u = self.unit
        shape = maps.shape
        tex = 1.0 + 0.06 * smooth_noise(rng, shape, 60 * u) + 0.025 * smooth_noise(rng, shape, 3 * u)
        weave = _weave(shape, float(rng.uniform(5, 9)) * u, float(rng.uniform(0, np.pi)))
        maps.albedo *= (tex + 0.03 * weave)[..., None]
        trace = tuple(min(1.0, c * 1.35 + 0.03) for c in mask)
        for _ in range(int(rng.integers(4, 12))):
            p0 = rng.uniform(0, shape[0], 2)
            p1 = p0 + (rng.choice([-1, 1], 2) * rng.uniform(40, 200, 2) * u) * (rng.random(2) < 0.7)
            pts = np.stack([p0, p1]).astype(np.int32)
            cv2.polylines(maps.height, [pts], False, 0.6 * u, max(2, int(4 * u)))
            cv2.polylines(maps.albedo, [pts], False, trace, max(2, int(4 * u)))
        for _ in range(int(rng.integers(3, 10))):
            c = rng.uniform(0, shape[0], 2)
            dome(maps, (c[0], c[1]), (4.5 * u, 4.5 * u), 0, 1.2 * u, _SOLDER, 0.9, power=0.15)
            cv2.circle(maps.albedo, (int(c[0]), int(c[1])), max(1, int(1.8 * u)), (0.03, 0.03, 0.03), -1)
        silk = np.zeros(shape, np.uint8)
        for chip in chips:
            if rng.random() < 0.6:
                self._silk(rng, silk, chip)
        for ic in ics:
            y = int(ic.body_bottom + 30 * u)
            cv2.line(silk, (int(ic.x0), y), (int(ic.x1), y), 255, max(1, int(1.5 * u)))
        on = silk > 0
        maps.albedo[on] = _SILK
        maps.shiny[on] = 0.05

    def _silk(self, rng: np.random.Generator, silk: np.ndarray, chip: _Chip) -> None:
        u = self.unit
        pts = chip.footprint().copy()
        centre = pts.mean(axis=0)
        pts = centre + (pts - centre) * 1.12
        cv2.polylines(silk, [pts.astype(np.int32)], True, 255, max(1, int(1.4 * u)))
        label = f"{'RC'[int(rng.integers(0, 2))]}{int(rng.integers(1, 99))}"
        org = (int(pts[:, 0].min()), int(pts[:, 1].min() - 2 * u))
        cv2.putText(silk, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.28 * u, 255, 1, cv2.LINE_AA)

    def _chip(self, rng: np.random.Generator, maps: Maps, chip: _Chip) -> list[PlacedDefect]:
        u = self.unit
        for end in (-1, 1):
            a0, a1 = chip.pad(end)
            dry = chip.defect == "insufficient" and end == chip.bad_end
            colour, shiny = (_DULL, 0.35) if dry else (_SOLDER, 1.0)
            maps.fill(chip.rect(a0, a1, -0.62 * chip.width, 0.62 * chip.width), 0.8 * u, colour, shiny)
        if chip.defect == "missing":
            return [self._missing(rng, maps, chip)]
        if chip.defect == "tombstone":
            return [self._tombstone(maps, chip)]
        offset, angle = (0.0, 0.0)
        if chip.defect == "shifted":
            offset = float(rng.choice([-1, 1]) * rng.uniform(0.35, 0.6)) * chip.width
            angle = float(rng.choice([0.0, rng.uniform(-22, 22)], p=[0.4, 0.6]))
        placed: list[PlacedDefect] = []
        for end in (-1, 1):
            profile = "good"
            if chip.defect in ("insufficient", "excess") and end == chip.bad_end:
                profile = chip.defect
                placed.append(PlacedDefect(chip.defect, self._joint_outline(chip, end, profile)))
            self._chip_fillet(maps, chip, end, profile, offset)
        self._chip_body(maps, chip, offset, angle)
        if chip.defect == "shifted":
            outline = np.vstack([chip.footprint(), self._body_polygon(chip, offset, angle)])
            placed.append(PlacedDefect("shifted", cv2.convexHull(outline.astype(np.float32)).reshape(-1, 2)))
        return placed

    def _chip_fillet(self, maps: Maps, chip: _Chip, end: int, profile: str, offset: float) -> None:
        u = self.unit
        half = chip.length / 2
        a_in, a_out = half, half + 0.32 * chip.length
        b0, b1 = -0.55 * chip.width, 0.55 * chip.width
        peak = 0.5 * chip.width
        if profile == "excess":
            a_out += 0.22 * chip.length
            b0, b1 = b0 - 0.2 * chip.width, b1 + 0.2 * chip.width
            peak = 0.85 * chip.width
        b0, b1 = max(b0, offset - 0.5 * chip.width), min(b1, offset + 0.5 * chip.width)
        if profile == "excess":
            b0, b1 = -0.75 * chip.width, 0.75 * chip.width
        if b1 - b0 < 1:
            return
        poly = chip.rect(a_in, a_out, b0, b1) if end > 0 else chip.rect(-a_out, -a_in, b0, b1)
        _fillet(maps, poly, _outward(chip, end), peak, profile, u)

    def _joint_outline(self, chip: _Chip, end: int, profile: str) -> np.ndarray:
        extra = 0.22 * chip.length if profile == "excess" else 0.0
        wide = 0.78 if profile == "excess" else 0.64
        a0, a1 = chip.length / 2 - 0.25 * chip.length, chip.length / 2 + 0.34 * chip.length + extra
        b0, b1 = -wide * chip.width, wide * chip.width
        return chip.rect(a0, a1, b0, b1) if end > 0 else chip.rect(-a1, -a0, b0, b1)

    def _body_polygon(self, chip: _Chip, offset: float, angle: float, shrink: float = 0.0) -> np.ndarray:
        half_a, half_b = chip.length / 2 - shrink, chip.width / 2
        pts = np.array([[-half_a, -half_b], [half_a, -half_b], [half_a, half_b], [-half_a, half_b]], np.float32)
        pts[:, 1] += offset
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        pts = pts @ np.array([[c, s], [-s, c]], np.float32)
        if not chip.horizontal:
            pts = pts[:, ::-1]
        return pts + np.array([chip.cx, chip.cy], np.float32)

    def _chip_body(self, maps: Maps, chip: _Chip, offset: float, angle: float) -> None:
        top = 0.55 * chip.width
        maps.fill(self._body_polygon(chip, offset, angle), top, _TERMINAL, 0.75)
        maps.fill(self._body_polygon(chip, offset, angle, shrink=0.22 * chip.length), top, chip.body, 0.12)
        if chip.body == _BODIES[0] and chip.width > 16 * self.unit:
            centre = self._body_polygon(chip, offset, angle, shrink=0.3 * chip.length)
            mid = centre.mean(axis=0)
            maps.fill(mid + (centre - mid) * np.float32(0.55), None, (0.16, 0.16, 0.17), 0.12)

    def _missing(self, rng: np.random.Generator, maps: Maps, chip: _Chip) -> PlacedDefect:
        u = self.unit
        for end in (-1, 1):
            a0, a1 = chip.pad(end)
            centre = chip.rect(a0, a1, 0, 0).mean(axis=0)
            ra, rb = (a1 - a0) / 2, 0.55 * chip.width
            radii = (ra, rb) if chip.horizontal else (rb, ra)
            dome(maps, (centre[0], centre[1]), radii, 0, float(rng.uniform(2.0, 4.0)) * u, _SOLDER, 1.0, 0.35)
        if rng.random() < 0.5:  # the glue dot that held the part
            dome(maps, (chip.cx, chip.cy), (0.18 * chip.width,) * 2, 0, 1.5 * u, (0.2, 0.25, 0.75), 0.3)
        return PlacedDefect("missing", chip.footprint())

    def _tombstone(self, maps: Maps, chip: _Chip) -> PlacedDefect:
        u = self.unit
        end = chip.bad_end
        a_in, a_out = chip.pad(end)
        if end < 0:
            a_in, a_out = -a_out, -a_in
        thick = 0.55 * chip.width
        a0 = end * (chip.length / 2 - 0.22 * chip.length)
        stand = chip.rect(min(a0, a0 + end * thick), max(a0, a0 + end * thick), -chip.width / 2, chip.width / 2)
        self._chip_fillet(maps, chip, end, "good", 0.0)
        maps.fill(stand, chip.length, _TERMINAL, 0.8)
        other = chip.pad(-end)
        centre = chip.rect(other[0], other[1], 0, 0).mean(axis=0)
        ra, rb = (other[1] - other[0]) / 2, 0.55 * chip.width
        dome(maps, (centre[0], centre[1]), (ra, rb) if chip.horizontal else (rb, ra), 0, 3 * u, _SOLDER, 1.0, 0.35)
        return PlacedDefect("tombstone", chip.footprint())

    def _ic(self, rng: np.random.Generator, maps: Maps, ic: _IcRow) -> list[PlacedDefect]:
        u = self.unit
        maps.fill(rect_polygon(ic.x0, ic.top, ic.x1, ic.body_bottom), 16 * u, _IC_BODY, 0.1)
        lead_w = 0.46 * ic.pitch
        foot0, foot1 = ic.body_bottom + 9 * u, ic.body_bottom + 19 * u
        pad1 = ic.body_bottom + 26 * u
        placed: list[PlacedDefect] = []
        for i in range(ic.n_leads):
            x = ic.lead_x(i)
            defect = ic.defect_lead.get(i)
            colour, shiny = (_DULL, 0.35) if defect == "insufficient" else (_SOLDER, 1.0)
            pad = rect_polygon(x - 0.75 * lead_w, ic.body_bottom + 5 * u, x + 0.75 * lead_w, pad1)
            maps.fill(pad, 0.8 * u, colour, shiny)
            profile = defect if defect in ("insufficient", "excess") else "good"
            wide = 0.95 if profile == "excess" else 0.6
            toe = rect_polygon(
                x - wide * lead_w, foot1, x + wide * lead_w, pad1 + (8 * u if profile == "excess" else 0)
            )
            _fillet(maps, toe, (0.0, 1.0), 5 * u if profile != "excess" else 10 * u, profile, u)
            _gull_wing(maps, x, lead_w, ic.body_bottom, foot0, foot1, u)
            if profile != "good":
                outline = rect_polygon(x - lead_w, foot0 - 2 * u, x + lead_w, pad1 + 9 * u)
                placed.append(PlacedDefect(profile, outline))
            if defect == "bridge":
                placed.append(self._bridge(rng, maps, ic, i, lead_w, (foot0 + pad1) / 2))
        return placed

    def _bridge(
        self, rng: np.random.Generator, maps: Maps, ic: _IcRow, i: int, lead_w: float, y: float
    ) -> PlacedDefect:
        u = self.unit
        xa, xb = ic.lead_x(i), ic.lead_x(i + 1)
        centre = ((xa + xb) / 2, y + float(rng.uniform(-3, 3)) * u)
        radii = ((xb - xa) / 2 + 0.35 * lead_w, float(rng.uniform(6.0, 9.0)) * u)
        dome(maps, centre, radii, float(rng.uniform(-8, 8)), 7 * u, _SOLDER, 1.0, 0.45)
        return PlacedDefect("bridge", ellipse_polygon(centre, (radii[0] + u, radii[1] + u), 0.0))

    def _balls(self, rng: np.random.Generator, maps: Maps, shape: tuple[int, int]) -> list[PlacedDefect]:
        u = self.unit
        cell = shape[0] / 5
        placed = []
        for _ in range(int(rng.integers(1, 4))):
            corner = rng.integers(1, 5, 2) * cell + rng.uniform(-0.12, 0.12, 2) * cell
            r = float(rng.uniform(3.5, 6.0)) * u
            dome(maps, (corner[0], corner[1]), (r, r), 0, r, _SOLDER, 1.0)
            placed.append(PlacedDefect("solder_ball", ellipse_polygon((corner[0], corner[1]), (r + u, r + u), 0, 12)))
        return placed


def _take(free: list[_Chip | _IcRow], name: str) -> _Chip | _IcRow | None:
    for i, item in enumerate(free):
        if name in _CHIP_CLASSES and not isinstance(item, _Chip):
            continue
        if name == "bridge" and not isinstance(item, _IcRow):
            continue
        return free.pop(i)
    return None


def _outward(chip: _Chip, end: int) -> tuple[float, float]:
    return (float(end), 0.0) if chip.horizontal else (0.0, float(end))


def _fillet(maps: Maps, polygon: np.ndarray, outward: tuple[float, float], peak: float, profile: str, u: float) -> None:
    """A fillet on an axis-aligned rectangle whose height falls along ``outward`` (concave when good)."""
    x0, y0 = polygon.min(axis=0)
    x1, y1 = polygon.max(axis=0)
    ys_sl, xs_sl, xs, ys = maps.roi(x0, y0, x1 - 1, y1 - 1)
    if xs.size == 0 or ys.size == 0:
        return
    tx = (xs - x0) / max(x1 - x0, 1.0)
    ty = (ys - y0) / max(y1 - y0, 1.0)
    if outward[0] != 0:
        t = tx if outward[0] > 0 else 1 - tx
        v = 2 * ty - 1
    else:
        t = ty if outward[1] > 0 else 1 - ty
        v = 2 * tx - 1
    t, v = np.clip(t, 0, 1), np.clip(v, -1, 1)
    across = np.sqrt(np.clip(1 - np.abs(v) ** 6, 0, 1))
    if profile == "excess":
        along = np.sqrt(np.clip(1 - t * t, 0, 1))
    elif profile == "insufficient":
        along = np.where(t < 0.35, 0.25 * (1 - t / 0.35) + 0.05, -1.0)
    else:
        along = (1 - t) ** 1.8
    surface = (peak * along * across + 0.8 * u).astype(np.float32)
    colour = (0.62, 0.63, 0.66) if profile == "insufficient" else _SOLDER
    maps.raise_to((ys_sl, xs_sl), surface, colour, 0.75 if profile == "insufficient" else 1.0)


def _gull_wing(maps: Maps, x: float, lead_w: float, body_bottom: float, foot0: float, foot1: float, u: float) -> None:
    """A lead leaving the body at mid-height, bending down to a flat foot."""
    ys_sl, xs_sl, xs, ys = maps.roi(x - lead_w / 2, body_bottom - 2 * u, x + lead_w / 2 - 1, foot1)
    if xs.size == 0 or ys.size == 0:
        return
    t = np.clip((ys - body_bottom) / max(foot0 - body_bottom, 1.0), 0, 1)
    height = 3 * u + 7 * u * (1 - t) ** 2 * (ys >= body_bottom - 2 * u)
    across = np.sqrt(np.clip(1 - np.abs(2 * (xs - (x - lead_w / 2)) / lead_w - 1) ** 8, 0, 1))
    surface = np.broadcast_to(height * (0.7 + 0.3 * across), (ys.shape[0], xs.shape[1])).astype(np.float32)
    maps.raise_to((ys_sl, xs_sl), surface.copy(), _TERMINAL, 0.9)


def _weave(shape: tuple[int, int], period: float, phase: float) -> np.ndarray:
    """Glass-fibre weave under the solder mask (separable; the camera pose rotates it)."""
    h, w = shape
    k = 2 * np.pi / period
    ys = np.sin(np.arange(h, dtype=np.float32) * k + phase)[:, None]
    xs = np.sin(np.arange(w, dtype=np.float32) * k)[None, :]
    return ys * xs


def _pick_mask(rng: np.random.Generator) -> Colour:
    weights = np.array([w for _, w in _MASKS])
    colour = _MASKS[int(rng.choice(len(_MASKS), p=weights / weights.sum()))][0]
    jitter = rng.uniform(0.85, 1.15, 3)
    return tuple(float(min(1.0, c * j)) for c, j in zip(colour, jitter, strict=True))  # type: ignore[return-value]


def _ring_lut(rings: tuple) -> np.ndarray:
    """Specular colour reflected into the camera per slope angle, in quarter degrees from 0 to 90."""
    theta = np.arange(361, dtype=np.float32) / 4.0
    lut = np.zeros((361, 3), np.float32)
    for (centre, width), colour in rings:
        lut += np.exp(-0.5 * ((theta - centre) / width) ** 2)[:, None] * np.asarray(colour, np.float32)
    return lut


def _shade(maps: Maps, rings: tuple, u: float) -> np.ndarray:
    """Ring-light shading: diffuse by surface tilt, specular by which ring the slope reflects."""
    _, _, theta = shade_normals(maps.height, 0.8 * u)
    index = np.clip(theta * 4.0, 0, 360).astype(np.int16)
    spec = _ring_lut(rings)[index]
    nz = _COS_LUT[index]
    shiny = maps.shiny[..., None]
    image = maps.albedo * ((0.35 + 0.65 * nz)[..., None] * (1 - 0.6 * shiny) + 0.65 * shiny * spec)
    image += 0.35 * shiny * spec
    occlusion = np.clip(cv2.GaussianBlur(maps.height, (0, 0), 5 * u) - maps.height, 0, None) / (10 * u)
    image *= (1 - 0.5 * np.clip(occlusion, 0, 1))[..., None]
    return image


_COS_LUT = np.cos(np.radians(np.arange(361, dtype=np.float32) / 4.0)).astype(np.float32)
