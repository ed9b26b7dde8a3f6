"""SPC as quality engineers run it: Phase I limits frozen from a baseline, Nelson rules, p- and u-charts.

A chart whose limits are recomputed from whatever window is shown hides a drift: the drifting process
moves its own limits. Here limits are *frozen* (Phase I) from a baseline period the engineer picks, stored
in the verdict database (`spc_limits`, newest row per chart wins), and every later point is judged
against them (Phase II) with the eight Western Electric / Nelson rules, each violation naming its rule.

Attribute charts with variable subgroup sizes use per-point sigma, so every rule works on the
standardised value z = (x − centre) / sigma_i (the usual treatment of p- and u-charts with varying n).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from inspection.errors import StoreError
from inspection.records.store import Store

__all__ = [
    "NELSON_RULES",
    "ChartKind",
    "ControlChart",
    "FrozenLimits",
    "RuleViolation",
    "active_limits",
    "attribute_chart",
    "chart_csv",
    "nelson_rules",
    "store_frozen_limits",
    "subgroups",
]

ChartKind = Literal["p", "u"]

NELSON_RULES: dict[int, str] = {
    1: "one point beyond 3σ",
    2: "9 points in a row on one side of the centre line",
    3: "6 points in a row steadily increasing or decreasing",
    4: "14 points in a row alternating up and down",
    5: "2 of 3 points beyond 2σ on one side",
    6: "4 of 5 points beyond 1σ on one side",
    7: "15 points in a row within 1σ",
    8: "8 points in a row beyond 1σ, on either side",
}


@dataclass(frozen=True, slots=True)
class RuleViolation:
    index: int  # the point that completes the pattern (where the console marks it)
    rule: int

    @property
    def description(self) -> str:
        return NELSON_RULES[self.rule]


def nelson_rules(z: np.ndarray | list[float], rules: tuple[int, ...] = tuple(NELSON_RULES)) -> list[RuleViolation]:
    """Every (point, rule) that fires on the standardised values ``z`` (oldest first)."""
    z = np.asarray(z, dtype=np.float64)
    out: list[RuleViolation] = []
    n = z.size
    side = np.sign(z)
    for i in range(n):
        def window(k: int, i: int = i) -> np.ndarray | None:
            return z[i - k + 1:i + 1] if i + 1 >= k else None

        if 1 in rules and abs(z[i]) > 3:
            out.append(RuleViolation(i, 1))
        if 2 in rules and (w := window(9)) is not None and (np.all(w > 0) or np.all(w < 0)):
            out.append(RuleViolation(i, 2))
        if 3 in rules and (w := window(6)) is not None:
            d = np.diff(w)
            if np.all(d > 0) or np.all(d < 0):
                out.append(RuleViolation(i, 3))
        if 4 in rules and (w := window(14)) is not None:
            d = np.sign(np.diff(w))
            if np.all(d != 0) and np.all(d[1:] == -d[:-1]):
                out.append(RuleViolation(i, 4))
        # 5 and 6: the pattern's side is the current point's, which itself must be one of the far points
        if 5 in rules and (w := window(3)) is not None and abs(z[i]) > 2 and np.sum(w * side[i] > 2) >= 2:
            out.append(RuleViolation(i, 5))
        if 6 in rules and (w := window(5)) is not None and abs(z[i]) > 1 and np.sum(w * side[i] > 1) >= 4:
            out.append(RuleViolation(i, 6))
        if 7 in rules and (w := window(15)) is not None and np.all(np.abs(w) < 1):
            out.append(RuleViolation(i, 7))
        if 8 in rules and (w := window(8)) is not None and np.all(np.abs(w) > 1) and np.any(w > 0) and np.any(w < 0):
            out.append(RuleViolation(i, 8))
    return out


@dataclass(frozen=True, slots=True)
class FrozenLimits:
    """Phase I result: the centre line of a chart, from a baseline period, as stored."""

    chart: ChartKind
    centre: float
    baseline_from_s: float
    baseline_to_s: float
    subgroups: int
    parts: int
    subgroup_size: int
    frozen_at_s: float
    frozen_by: str = ""
    excluded: int = 0  # baseline subgroups left out as assignable causes (beyond 3σ of the trial limits)


@dataclass(frozen=True, slots=True)
class ControlChart:
    """One attribute chart ready to draw or export."""

    kind: ChartKind
    value: np.ndarray  # p (failed fraction) or u (counted defects per part) per subgroup
    n: np.ndarray
    start_s: np.ndarray  # time of each subgroup's first part (epoch seconds, UTC)
    centre: float
    sigma: np.ndarray
    violations: tuple[RuleViolation, ...]
    limits: FrozenLimits | None  # None: limits from the data shown (Phase I view)

    @property
    def ucl(self) -> np.ndarray:
        top = 1.0 if self.kind == "p" else np.inf
        return np.minimum(top, self.centre + 3 * self.sigma)

    @property
    def lcl(self) -> np.ndarray:
        return np.maximum(0.0, self.centre - 3 * self.sigma)

    @property
    def z(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (self.value - self.centre) / self.sigma
            off = np.where(self.value == self.centre, 0.0, np.sign(self.value - self.centre) * np.inf)
        return np.where(self.sigma > 0, z, off)  # sigma 0 (p̄ = 0): any failure is beyond every limit

    def rules_at(self, index: int) -> list[int]:
        return sorted({v.rule for v in self.violations if v.index == index})

    def __len__(self) -> int:
        return int(self.value.size)


def _sigma(kind: ChartKind, centre: float, n: np.ndarray) -> np.ndarray:
    if kind == "p":
        return np.sqrt(max(centre * (1.0 - centre), 0.0) / n)
    return np.sqrt(max(centre, 0.0) / n)


def subgroups(store: Store, kind: ChartKind, subgroup_size: int, since_s: float | None = None,
              until_s: float | None = None, max_subgroups: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count, n, start_s) per subgroup of ``subgroup_size`` consecutive inspected (non-ERROR) parts: failed
    parts for a p-chart, counted defects for a u-chart. A trailing partial subgroup needs half the size."""
    if subgroup_size < 1:
        raise ValueError(f"subgroup_size: expected >= 1, got {subgroup_size}")
    count = ("(i.verdict in ('FAIL', 'REVIEW'))" if kind == "p" else
             "(select count(*) from detections d where d.inspection_id = i.id and d.counted = 1)")
    rows = store.query(
        f"select i.timestamp_s as t, {count} as c from inspections i where i.verdict != 'ERROR' "
        "and i.timestamp_s >= ? and i.timestamp_s <= ? order by i.id desc limit ?",
        [since_s or 0.0, until_s if until_s is not None else 1e18, subgroup_size * max_subgroups])
    rows.reverse()
    c = np.fromiter((r["c"] for r in rows), dtype=np.float64, count=len(rows))
    t = np.fromiter((r["t"] for r in rows), dtype=np.float64, count=len(rows))
    groups = [(a, min(a + subgroup_size, len(rows))) for a in range(0, len(rows), subgroup_size)]
    groups = [(a, b) for a, b in groups if b - a >= max(1, subgroup_size // 2)]
    return (np.array([c[a:b].sum() for a, b in groups], dtype=np.float64),
            np.array([b - a for a, b in groups], dtype=np.float64),
            np.array([t[a] for a, _ in groups], dtype=np.float64))


def attribute_chart(kind: ChartKind, counts: np.ndarray, n: np.ndarray, start_s: np.ndarray,
                    limits: FrozenLimits | None = None) -> ControlChart:
    """The chart of these subgroups: against frozen limits when given, else limits from the data itself."""
    counts, n = np.asarray(counts, dtype=np.float64), np.asarray(n, dtype=np.float64)
    if counts.shape != n.shape or np.any(n <= 0):
        raise ValueError("attribute_chart: expected one count per subgroup and every subgroup size > 0")
    if kind == "p" and np.any(counts > n):
        raise ValueError("attribute_chart: a p-chart cannot have more failed parts than parts in a subgroup")
    centre = limits.centre if limits is not None else (float(counts.sum() / n.sum()) if n.size else 0.0)
    value = counts / n if n.size else counts
    sigma = _sigma(kind, centre, n)
    chart = ControlChart(kind, value, n, np.asarray(start_s, dtype=np.float64), centre, sigma, (), limits)
    return ControlChart(kind, value, n, chart.start_s, centre, sigma, tuple(nelson_rules(chart.z)), limits)


_TABLE = "spc_limits"


def store_frozen_limits(store: Store, kind: ChartKind, from_s: float, to_s: float, subgroup_size: int = 25,
                        by: str = "", now_s: float | None = None) -> FrozenLimits:
    """Phase I: compute the centre line from the baseline period [from_s, to_s], leaving out subgroups
    beyond 3σ of the trial limits (assignable causes; up to three rounds), and store it.

    Callers decide who may do this: `inspection.decisions.spc_baseline.freeze_limits` checks the role and audits."""
    counts, n, _ = subgroups(store, kind, subgroup_size, from_s, to_s)
    if n.size < 5:
        raise StoreError(f"freeze SPC limits: the baseline {time.strftime('%Y-%m-%d %H:%M', time.gmtime(from_s))}"
                         f" … {time.strftime('%H:%M', time.gmtime(to_s))} UTC has {n.size} subgroup(s) of "
                         f"{subgroup_size} parts; take a longer period (at least 5, better 20–25 subgroups)")
    keep = np.ones(n.size, dtype=bool)
    for _ in range(3):
        centre = float(counts[keep].sum() / n[keep].sum())
        sigma = _sigma(kind, centre, n)
        beyond = np.abs(counts / n - centre) > 3 * sigma
        if not np.any(beyond & keep) or np.sum(keep & ~beyond) < 5:
            break
        keep &= ~beyond
    centre = float(counts[keep].sum() / n[keep].sum())
    limits = FrozenLimits(kind, centre, from_s, to_s, int(keep.sum()), int(n[keep].sum()), subgroup_size,
                          time.time() if now_s is None else now_s, by, int((~keep).sum()))
    with store.transaction("frozen control limits") as db:
        db[_TABLE].insert({
            "chart": kind, "centre": centre, "baseline_from_s": from_s, "baseline_to_s": to_s,
            "subgroups": limits.subgroups, "parts": limits.parts, "subgroup_size": subgroup_size,
            "frozen_at_s": limits.frozen_at_s, "frozen_by": by, "excluded": limits.excluded,
        }, pk="id", alter=True)
    return limits


def active_limits(store: Store, kind: ChartKind) -> FrozenLimits | None:
    """The newest frozen limits of this chart, or None when none were frozen."""
    if not store.has_table(_TABLE):
        return None
    rows = store.query(f"select * from {_TABLE} where chart = ? order by id desc limit 1", [kind])
    if not rows:
        return None
    r = rows[0]
    return FrozenLimits(kind, float(r["centre"]), float(r["baseline_from_s"]), float(r["baseline_to_s"]),
                        int(r["subgroups"]), int(r["parts"]), int(r["subgroup_size"]), float(r["frozen_at_s"]),
                        str(r["frozen_by"] or ""), int(r["excluded"] or 0))


def chart_csv(chart: ControlChart, path: Path | str) -> Path:
    """The chart as CSV: one row per subgroup with its time (UTC), size, value, limits and fired rules."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["start_utc", "n", chart.kind, "centre", "lcl", "ucl", "z", "rules", "limits"])
        source = (f"frozen {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(chart.limits.frozen_at_s))}"
                  if chart.limits else "from data shown")
        ucl, lcl, z = chart.ucl, chart.lcl, chart.z
        for i in range(len(chart)):
            out.writerow([time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(chart.start_s[i])), int(chart.n[i]),
                          f"{chart.value[i]:.6g}", f"{chart.centre:.6g}", f"{lcl[i]:.6g}", f"{ucl[i]:.6g}",
                          f"{z[i]:.3f}", " ".join(map(str, chart.rules_at(i))), source])
    return path
