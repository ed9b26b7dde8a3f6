"""Pick a recipe's confidence thresholds from the line's point of view: escapes first, then false rejects.

A detector's confidence threshold sets the station's trade-off: lower, and fewer defective parts escape but
more good parts are rejected. ``tune_thresholds`` measures that trade-off on a labelled split (use the
validation split: thresholds tuned on the test split make its numbers optimistic) and returns

1. the highest single threshold whose escape rate stays within ``max_escape`` (false rejects only fall as a
   threshold rises, so the highest one that keeps escapes in bounds is the best single one), then
2. per class, the highest threshold that still keeps the escape rate within bounds, where raising it removes
   false rejects, as long as each class still finds its own defects (``max_class_miss``) — so a class is
   never switched off because its defects came with others on the tuning split.

When no threshold reaches ``max_escape``, the lowest escape rate wins and ``met`` is False. A part is
rejected when any detection clears its class's threshold, exactly as ``training.evaluate`` and the judge count.

A split without good images (real defect sets such as NEU-DET show a defect on every image) cannot show
false rejects, and escapes alone would drive every threshold to the bottom of the grid. There each class
gets the threshold of its best box-level F1 instead (IoU 0.5, same class: few false boxes for the defects it
finds), the escape rate at it is reported, and ``basis`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from inspection.domain.matching import greedy_match
from training.evaluate import Labels

__all__ = ["DEFAULT_GRID", "OperatingPoint", "Tuning", "tune_thresholds", "tuned_recipe", "tuning_table"]

# Finer at the low end, where a weak model's useful thresholds are and rates change fastest.
DEFAULT_GRID = (0.01, 0.02, 0.03, 0.04, *(round(float(t), 2) for t in np.arange(0.05, 0.951, 0.05)))


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """The station's part-level rates at one set of per-class thresholds."""

    thresholds: dict[str, float]
    escape_rate: float | None
    false_reject_rate: float | None


@dataclass(frozen=True, slots=True)
class Tuning:
    chosen: OperatingPoint
    curve: tuple[OperatingPoint, ...]  # one point per single (global) threshold of the grid
    max_escape: float
    met: bool  # whether the chosen point's escape rate is within max_escape
    basis: str = "escape"  # "escape": escapes, then false rejects; "f1": no good images, best box F1 per class


def _max_scores(preds: Sequence[Labels], n_classes: int) -> np.ndarray:
    """images × classes: the best score of each class on each image (-1 where there is none)."""
    scores = np.full((len(preds), n_classes), -1.0, np.float32)
    for i, pred in enumerate(preds):
        if len(pred.classes):
            np.maximum.at(scores[i], pred.classes, pred.scores)
    return scores


def _rates(scores: np.ndarray, defective: np.ndarray, thresholds: np.ndarray) -> tuple[float | None, float | None]:
    flagged = (scores >= thresholds).any(axis=1) if scores.size else np.zeros(len(defective), bool)
    n_defective, n_good = int(defective.sum()), int((~defective).sum())
    escape = float((defective & ~flagged).sum() / n_defective) if n_defective else None
    false_reject = float((~defective & flagged).sum() / n_good) if n_good else None
    return escape, false_reject


def tune_thresholds(
    truths: Sequence[Labels],
    preds: Sequence[Labels],
    names: Mapping[int, str],
    max_escape: float,
    grid: Sequence[float] = DEFAULT_GRID,
    ignored: Sequence[str] = (),
    max_class_miss: float = 0.25,
) -> Tuning:
    """Thresholds that keep escapes within ``max_escape`` with the fewest false rejects on this split.

    Each class must also keep finding its own defects: on the images showing it, a detection of that class
    clears its threshold on all but ``max_class_miss`` of them (or as many as it can at all). Classes in
    ``ignored`` never reject (the recipe ignores them) and are left out of the tuning."""
    for name, value in (("max_escape", max_escape), ("max_class_miss", max_class_miss)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    if len(truths) != len(preds):
        raise ValueError(f"expected as many predictions as images, got {len(preds)} for {len(truths)}")
    n = max(names) + 1 if names else 0
    scores = _max_scores(preds, n)
    defective = np.array([len(t.classes) > 0 for t in truths], bool)
    levels = sorted(set(grid))
    unknown = sorted(set(ignored) - set(names.values()))
    if unknown:
        raise ValueError(f"ignored classes {unknown} are not classes of the model; classes are {list(names.values())}")
    scores[:, [i for i in names if names[i] in set(ignored)]] = -1.0  # never clears any threshold

    def point(thresholds: np.ndarray) -> OperatingPoint:
        escape, false_reject = _rates(scores, defective, thresholds)
        table = {names[i]: float(thresholds[i]) for i in sorted(names) if names[i] not in ignored}
        return OperatingPoint(table, escape, false_reject)

    present = np.zeros((len(truths), n), bool)
    for i, truth in enumerate(truths):
        present[i, truth.classes] = True
    # Each class must keep finding its own defects: otherwise a class whose defects came with others on this
    # split would be switched off and pass alone on the line. Per class there are few images, so the bound
    # is looser than the part-level target (one miss in 12 is already 8 %).
    budget = max(max_escape, max_class_miss)
    allowed = [max(budget, _class_misses(scores, present, c, levels[0])) for c in range(n)]

    def classes_ok(thresholds: np.ndarray) -> bool:
        return all(_class_misses(scores, present, c, thresholds[c]) <= allowed[c] + 1e-9 for c in range(n))

    curve = tuple(point(np.full(n, t, np.float32)) for t in levels)
    if not (~defective).any():  # no good images: false rejects are invisible here, see the module's docstring
        chosen = point(_best_f1_thresholds(truths, preds, n, levels))
        return Tuning(chosen, curve, max_escape, (chosen.escape_rate or 0.0) <= max_escape + 1e-9, basis="f1")
    escape_of = [p.escape_rate or 0.0 for p in curve]
    within = [i for i, e in enumerate(escape_of)
              if e <= max_escape + 1e-9 and classes_ok(np.full(n, levels[i], np.float32))]
    # False rejects only fall as the threshold rises: the highest level within bounds is the best single one.
    best = within[-1] if within else min(range(len(curve)), key=lambda i: (escape_of[i], -levels[i]))
    thresholds = np.full(n, levels[best], np.float32)
    bound = max(max_escape, escape_of[best])
    thresholds = _raise_per_class(scores, defective, present, thresholds, levels, bound, allowed)
    chosen = point(thresholds)
    return Tuning(chosen, curve, max_escape, (chosen.escape_rate or 0.0) <= max_escape + 1e-9)


def _best_f1_thresholds(truths: Sequence[Labels], preds: Sequence[Labels], n: int,
                        levels: Sequence[float]) -> np.ndarray:
    """Per class, the grid level with the best box-level F1 (IoU 0.5, same class; ties: the higher level).
    Greedy matching by score means dropping low-score boxes never changes the matches of the others, so one
    matching at the lowest score serves every level."""
    parts = [(p.scores, p.classes, greedy_match(p.boxes, p.scores, p.classes, t.boxes, t.classes, 0.5) >= 0)
             for t, p in zip(truths, preds, strict=True)]
    scores = np.concatenate([s for s, _, _ in parts] or [np.zeros(0, np.float32)])
    classes = np.concatenate([c for _, c, _ in parts] or [np.zeros(0, np.int64)])
    hits = np.concatenate([h for _, _, h in parts] or [np.zeros(0, bool)])
    truth_counts = np.bincount(np.concatenate([t.classes for t in truths] or [np.zeros(0, np.int64)]),
                               minlength=n)
    best = np.full(n, levels[0], np.float32)
    for c in range(n):
        mine = classes == c
        scores_f1 = []
        for level in levels:
            kept = mine & (scores >= level)
            tp = int((kept & hits).sum())
            fp, fn = int(kept.sum()) - tp, int(truth_counts[c]) - tp
            scores_f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        top = max(scores_f1)
        best[c] = max(level for level, f in zip(levels, scores_f1, strict=True) if f >= top - 1e-12)
    return best


def _class_misses(scores: np.ndarray, present: np.ndarray, c: int, threshold: float) -> float:
    """Share of the images showing class ``c`` on which no detection of class ``c`` clears ``threshold``."""
    showing = present[:, c]
    return float((scores[showing, c] < threshold).mean()) if showing.any() else 0.0


def _raise_per_class(
    scores: np.ndarray,
    defective: np.ndarray,
    present: np.ndarray,
    thresholds: np.ndarray,
    levels: list[float],
    bound: float,
    allowed: list[float],
) -> np.ndarray:
    """Raise single classes where that removes false rejects and keeps the escape rate within ``bound``.

    A class must also keep finding its own defects (its own miss rate within ``bound``, or no worse than at
    the single threshold): otherwise a class whose defects happen to come with others on the tuning split
    would be switched off, and would escape on the line when it comes alone (``allowed``: per class)."""
    improved = True
    while improved:
        improved = False
        for c in range(len(thresholds)):
            _, current_fr = _rates(scores, defective, thresholds)
            for level in reversed([t for t in levels if t > thresholds[c]]):
                trial = thresholds.copy()
                trial[c] = level
                escape, false_reject = _rates(scores, defective, trial)
                if (
                    (escape or 0.0) <= bound + 1e-9
                    and _class_misses(scores, present, c, level) <= allowed[c] + 1e-9
                    and (false_reject or 0.0) < (current_fr or 0.0) - 1e-9
                ):
                    thresholds, improved = trial, True
                    break
    return thresholds


def tuning_table(tuning: Tuning) -> str:
    """Markdown: the single-threshold curve, then the chosen per-class thresholds."""

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = ["| threshold | escape rate | false-reject rate |", "|---|---|---|"]
    for p in tuning.curve:
        level = next(iter(p.thresholds.values()), 0.0)
        lines.append(f"| {level:.2f} | {fmt(p.escape_rate)} | {fmt(p.false_reject_rate)} |")
    verdict = "within" if tuning.met else "NOT within (lowest reachable shown)"
    if tuning.basis == "f1":
        verdict = "within" if tuning.met else "NOT within"
        lines += ["", "No good images on this split, so false rejects cannot be measured and escapes alone would "
                  "push every threshold to the bottom: each class gets the threshold of its best box-level F1 "
                  "(IoU 0.5). Check false rejects on good parts before the recipe goes to the line."]
    lines += [
        "",
        f"chosen thresholds, escape rate {fmt(tuning.chosen.escape_rate)} {verdict} the target "
        f"{tuning.max_escape:.3f}, false-reject rate {fmt(tuning.chosen.false_reject_rate)}:",
        "",
        "| class | min_confidence |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.2f} |" for name, value in tuning.chosen.thresholds.items()]
    return "\n".join(lines) + "\n"


def tuned_recipe(recipe_path: str | Path, tuning: Tuning, out: str | Path) -> Path:
    """A copy of the recipe with the tuned ``min_confidence`` of every class (other rules kept as they are)."""
    source = Path(recipe_path)
    raw = yaml.safe_load(source.read_text()) or {}
    model = raw.get("model")
    if isinstance(model, str) and not Path(model).is_absolute():  # keep it pointing at the same file
        raw["model"] = str((source.parent / model).resolve())
    classes = raw.setdefault("classes", {}) or {}
    raw["classes"] = classes
    for name, value in tuning.chosen.thresholds.items():
        rule = classes.setdefault(name, {}) or {}
        classes[name] = rule
        if rule.get("action") != "ignore":
            rule["min_confidence"] = round(value, 2)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# {source.name} with confidence thresholds tuned by `station eval --tune-escape "
        f"{tuning.max_escape}`:\n# escape {tuning.chosen.escape_rate}, false reject "
        f"{tuning.chosen.false_reject_rate} on the tuning split. Review before use.\n"
    )
    target.write_text(header + yaml.safe_dump(raw, sort_keys=False))
    return target
