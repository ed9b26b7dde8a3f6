"""How well golden-board comparison alone (and combined with a YOLO detector, if one ships) finds DeepPCB defects.

DeepPCB pairs an inspected image (`*_test.jpg`) with its aligned defect-free template (`*_temp.jpg`) and
labels defect boxes (`*_not/*.txt`: x1 y1 x2 y2 type). Box-level scoring:
- a labelled defect is FOUND when a predicted box has IoU ≥ --iou with it, or either box's centre lies in the other;
- a predicted box is CORRECT when it matches some labelled defect by the same rule.
Recall = found / labelled, precision = correct / predicted.

    .venv/bin/python bench/aoi_golden_deeppcb.py --pairs 200 [--registration none|orb|ecc] [--yolo MODEL]

Options were chosen on the first 100 pairs of the seeded permutation (--offset 0); the default --offset 100
evaluates on the next --pairs, which were not used to choose them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from inspection.aoi.golden import GoldenOptions, compare_to_golden
from inspection.domain.matching import iou
from inspection.domain.types import Box

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "deeppcb"
TYPES = {1: "open", 2: "short", 3: "mousebite", 4: "spur", 5: "spurious_copper", 6: "pin_hole"}


def load_pairs(root: Path, n: int, seed: int = 0, offset: int = 0,
               group: str | None = None) -> list[tuple[Path, Path, list[tuple[Box, int]]]]:
    """`n` pairs from a seeded permutation, starting at `offset` (so tuning and evaluation sets are disjoint);
    with `group`, only that board group (e.g. 92000, the detector's held-out test group)."""
    lines = (root / "trainval.txt").read_text().split("\n")
    entries = [ln.split() for ln in lines if ln.strip()]
    if group is not None:
        entries = [e for e in entries if e[0].startswith(f"group{group}/")]
    chosen = sorted(np.random.default_rng(seed).permutation(len(entries))[offset:offset + n])
    pairs = []
    for i in chosen:
        image_rel, label_rel = entries[i]
        stem = (root / "PCBData" / image_rel).with_suffix("")
        test, temp = Path(f"{stem}_test.jpg"), Path(f"{stem}_temp.jpg")
        boxes = []
        for row in (root / "PCBData" / label_rel).read_text().splitlines():
            vals = [int(float(v)) for v in row.replace(",", " ").split()]
            if len(vals) == 5:
                boxes.append((Box(*map(float, vals[:4])), vals[4]))
        pairs.append((test, temp, boxes))
    return pairs


def inside(point: tuple[float, float], box: Box) -> bool:
    return box.x1 <= point[0] <= box.x2 and box.y1 <= point[1] <= box.y2


CENTRE_RULE = True  # --iou-only turns it off


def matches(pred: Box, truth: Box, min_iou: float) -> bool:
    if iou(pred, truth) >= min_iou:
        return True
    return CENTRE_RULE and (inside(pred.center, truth) or inside(truth.center, pred))


def score(preds: list[Box], truths: list[tuple[Box, int]], min_iou: float) -> tuple[int, int, dict[int, list[int]]]:
    found_by_type: dict[int, list[int]] = {}
    for truth, kind in truths:
        hit = any(matches(p, truth, min_iou) for p in preds)
        found_by_type.setdefault(kind, [0, 0])
        found_by_type[kind][0] += int(hit)
        found_by_type[kind][1] += 1
    correct = sum(any(matches(p, t, min_iou) for t, _ in truths) for p in preds)
    return sum(v[0] for v in found_by_type.values()), correct, found_by_type


def run(pairs: list, options: GoldenOptions, min_iou: float, detector=None, min_conf: float = 0.25,
        imgsz: int = 640) -> dict:
    totals = {"truth": 0, "found": 0, "pred": 0, "correct": 0}
    by_type: dict[int, list[int]] = {}
    combined = {"truth": 0, "found": 0, "pred": 0, "correct": 0, "yolo_pred": 0, "yolo_correct": 0,
                "yolo_found": 0}
    ms = []
    for test_path, temp_path, truths in pairs:
        test = cv2.imread(str(test_path), cv2.IMREAD_GRAYSCALE)
        temp = cv2.imread(str(temp_path), cv2.IMREAD_GRAYSCALE)
        t0 = time.perf_counter()
        result = compare_to_golden(test, temp, options)
        ms.append((time.perf_counter() - t0) * 1000)
        preds = [d.box for d in result.detections]
        found, correct, kinds = score(preds, truths, min_iou)
        totals["truth"] += len(truths)
        totals["found"] += found
        totals["pred"] += len(preds)
        totals["correct"] += correct
        for k, (f, n) in kinds.items():
            by_type.setdefault(k, [0, 0])
            by_type[k][0] += f
            by_type[k][1] += n
        if detector is not None:
            _combined(detector, test, temp, preds, truths, min_iou, min_conf, imgsz, combined)
    out = {"golden": totals, "by_type": by_type, "ms_median": float(np.median(ms))}
    if detector is not None:
        out["combined"] = combined
    return out


def _combined(detector, test, temp, golden: list[Box], truths, min_iou: float, min_conf: float, imgsz: int,
              acc: dict) -> None:
    """Union: a defect found by either (all boxes of both are kept for precision).
    The shipped PCB model was trained on golden-template composites (B test, G template, R difference)."""
    from datasets.convert import deeppcb_composite

    image = deeppcb_composite(test, temp)
    result = detector.predict(image, imgsz=imgsz, conf=min_conf, verbose=False, save=False)[0]
    yolo = [Box(*map(float, b)) for b in result.boxes.xyxy.cpu().numpy()]
    union = yolo + golden  # a defect counts as found when either finds it
    found, correct, _ = score(union, truths, min_iou)
    y_found, y_correct, _ = score(yolo, truths, min_iou)
    acc["truth"] += len(truths)
    acc["found"] += found
    acc["pred"] += len(union)
    acc["correct"] += correct
    acc["yolo_pred"] += len(yolo)
    acc["yolo_correct"] += y_correct
    acc["yolo_found"] += y_found


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.1f} %" if b else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--offset", type=int, default=100,
                        help="skip this many pairs of the permutation (the first 100 were used to choose options)")
    parser.add_argument("--iou", type=float, default=0.1)
    parser.add_argument("--iou-only", action="store_true", help="match by IoU alone, not by centre-in-box")
    parser.add_argument("--registration", default="ecc", choices=["none", "orb", "ecc", "orb+ecc"])
    parser.add_argument("--tolerance", type=int, default=3)
    parser.add_argument("--threshold", type=int, default=40)
    parser.add_argument("--min-area", type=int, default=20)
    parser.add_argument("--close", type=int, default=5)
    parser.add_argument("--sliver", type=float, default=None, help="GoldenOptions.sliver_aspect (e.g. 6)")
    parser.add_argument("--yolo", type=Path, default=None, help="a DeepPCB YOLO model for the combined numbers")
    parser.add_argument("--yolo-imgsz", type=int, default=320)
    parser.add_argument("--yolo-conf", type=float, default=0.25)
    parser.add_argument("--group", default=None, help="only this board group (92000 = the detector's test group)")
    args = parser.parse_args()
    global CENTRE_RULE
    CENTRE_RULE = not args.iou_only
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} absent: DeepPCB is needed for this benchmark")
    options = GoldenOptions(registration=args.registration, tolerance_px=args.tolerance,
                            threshold=args.threshold, min_area_px=args.min_area, close_px=args.close,
                            sliver_aspect=args.sliver)
    detector = None
    if args.yolo is not None:
        from inspection.inference.offline import ensure_offline

        ensure_offline()
        from ultralytics import YOLO

        detector = YOLO(str(args.yolo))
    pairs = load_pairs(args.data, args.pairs, args.seed, args.offset, args.group)
    result = run(pairs, options, args.iou, detector, args.yolo_conf, args.yolo_imgsz)
    g = result["golden"]
    print(f"DeepPCB {len(pairs)} pairs (seed {args.seed}, offset {args.offset}), {g['truth']} labelled defects, "
          f"options {options}")
    rule = f"IoU ≥ {args.iou}" + ("" if args.iou_only else " or centre in box")
    print(f"matching: {rule}")
    print(f"golden alone: recall {_pct(g['found'], g['truth'])}, precision {_pct(g['correct'], g['pred'])} "
          f"({g['pred']} regions), median {result['ms_median']:.1f} ms/pair")
    for kind, (f, n) in sorted(result["by_type"].items()):
        print(f"  {TYPES.get(kind, kind):<16} recall {_pct(f, n)} ({f}/{n})")
    if "combined" in result:
        c = result["combined"]
        print(f"YOLO (conf ≥ {args.yolo_conf}, imgsz {args.yolo_imgsz}) alone: recall "
              f"{_pct(c['yolo_found'], c['truth'])}, precision {_pct(c['yolo_correct'], c['yolo_pred'])} "
              f"({c['yolo_pred']} boxes)")
        print(f"YOLO ∪ golden: recall {_pct(c['found'], c['truth'])}, precision {_pct(c['correct'], c['pred'])}")


if __name__ == "__main__":
    main()
