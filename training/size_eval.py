"""Size errors and size-based verdicts: a model judged the way a size-based recipe judges parts.

- Size errors: each prediction matched to a ground-truth outline (same class, box IoU ≥ 0.5) is measured in
  mm like the station measures it (`inspection.domain.measure`), from its mask and, for comparison, from its box
  only; the truth is measured from the label's polygon. Reported per class: median absolute relative error
  of area, equivalent diameter and length.
- Verdicts: the recipe's judge (zones, mm limits) is applied to the ground truth (confidence 1) and to the
  predictions at the recipe's thresholds. A part the truth rejects and the model passes is an escape; a part
  the truth passes and the model rejects is a false reject. Under a size-based recipe a defect the spec
  accepts is not an escape, and rejecting a part for it is a false reject.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from inspection.aoi.part_align import align_part
from inspection.domain.images import image_files
from inspection.domain.judge import Judge
from inspection.domain.matching import iou
from inspection.domain.measure import Scale, measure
from inspection.domain.recipe import Recipe
from inspection.domain.types import Box, Detection, Frame

__all__ = ["SizeReport", "evaluate_sizes", "load_outlines", "predict_outlines", "scale_for_eval", "size_table",
           "write_heldout", "write_size_report"]



def load_outlines(data_yaml: str | Path, split: str) -> tuple[list[Path], list[list[Detection]], dict[int, str]]:
    """Images and ground-truth detections (with polygons for segmentation labels) of a YOLO split."""
    meta = yaml.safe_load(Path(data_yaml).read_text())
    if split not in meta:
        raise ValueError(f"{data_yaml}: no split {split!r}")
    root = Path(meta.get("path") or Path(data_yaml).parent)
    folder = root / str(meta[split])
    names = meta["names"] if isinstance(meta["names"], dict) else dict(enumerate(meta["names"]))
    names = {int(k): str(v) for k, v in names.items()}
    images = image_files(folder)
    truths = []
    for image in images:
        h, w = cv2.imread(str(image), cv2.IMREAD_UNCHANGED).shape[:2]
        label = folder.parent.parent / "labels" / split / f"{image.stem}.txt"
        found = []
        for row in (label.read_text().split("\n") if label.is_file() else []):
            values = row.split()
            if not values:
                continue
            cls, xy = int(values[0]), np.asarray([float(v) for v in values[1:]], np.float64)
            if len(xy) == 4:
                cx, cy, bw, bh = xy * [w, h, w, h]
                box, polygon = Box(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2), None
            else:
                pts = np.stack([xy[0::2] * w, xy[1::2] * h], axis=1)
                box = Box(*pts.min(0), *pts.max(0))
                polygon = tuple((float(x), float(y)) for x, y in pts)
            found.append(Detection(names[cls], 1.0, box, cls, polygon, "truth"))
        truths.append(found)
    return images, truths, names


def predict_outlines(model_path: str | Path, images: list[Path], imgsz: int, device: str = "cpu",
                     conf: float = 0.01) -> list[list[Detection]]:
    """The model's detections per image, with mask outlines when it is a segmentation model."""
    from training.train import _offline

    _offline(2)
    from ultralytics import YOLO

    model = YOLO(str(model_path))
    out: list[list[Detection]] = []
    for start in range(0, len(images), 16):
        batch = [str(p) for p in images[start:start + 16]]
        for result in model.predict(batch, imgsz=imgsz, conf=conf, device=device, verbose=False, max_det=100):
            xy = result.masks.xy if result.masks is not None else None
            found = []
            for i, (box, cls, score) in enumerate(zip(result.boxes.xyxy.cpu().numpy(),
                                                      result.boxes.cls.cpu().numpy().astype(int),
                                                      result.boxes.conf.cpu().numpy(), strict=True)):
                polygon = None
                if xy is not None and len(xy[i]) >= 3:
                    polygon = tuple((float(x), float(y)) for x, y in xy[i])
                found.append(Detection(result.names[int(cls)], float(score), Box(*map(float, box)), int(cls), polygon))
            out.append(found)
    return out


@dataclass
class SizeReport:
    recipe: str
    images: int
    scale: str
    truth_rejects: int = 0
    truth_passes: int = 0
    escapes: int = 0
    false_rejects: int = 0
    matched: int = 0
    size_errors: dict[str, dict[str, float]] = field(default_factory=dict)  # per class and "all"
    area_mm2: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def escape_rate(self) -> float | None:
        return self.escapes / self.truth_rejects if self.truth_rejects else None

    @property
    def false_reject_rate(self) -> float | None:
        return self.false_rejects / self.truth_passes if self.truth_passes else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"escape_rate": self.escape_rate, "false_reject_rate": self.false_reject_rate}


def _pairs(truth: list[Detection], preds: list[Detection], iou_min: float = 0.5) -> list[tuple[Detection, Detection]]:
    taken: set[int] = set()
    pairs = []
    for p in sorted(preds, key=lambda d: -d.confidence):
        best, best_iou = None, iou_min
        for i, t in enumerate(truth):
            if i not in taken and t.class_name == p.class_name and (overlap := iou(t.box, p.box)) >= best_iou:
                best, best_iou = i, overlap
        if best is not None:
            taken.add(best)
            pairs.append((truth[best], p))
    return pairs


def evaluate_sizes(recipe: Recipe, truths: list[list[Detection]], preds: list[list[Detection]],
                   images: list[Path], scale: Scale) -> SizeReport:
    """Size errors of the matched predictions and the recipe's escape / false-reject rates."""
    judge = Judge(recipe, {"cam0": scale}, align=align_part)
    report = SizeReport(recipe.name, len(images), scale.label)
    errors: dict[str, dict[str, list[float]]] = {}
    for image, truth, pred in zip(images, truths, preds, strict=True):
        pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
        frame = Frame(pixels, "cam0", 0, 0.0, source=str(image))
        true_reject = judge.judge(tuple(truth), frame).verdict.status.rejects
        kept = tuple(d for d in pred if d.confidence >= recipe.rule_for(d.class_name).min_confidence)
        model_reject = judge.judge(kept, frame).verdict.status.rejects
        report.truth_rejects += true_reject
        report.truth_passes += not true_reject
        report.escapes += true_reject and not model_reject
        report.false_rejects += model_reject and not true_reject
        for t, p in _pairs(truth, list(kept)):
            mt = measure(t, scale)
            box_only = measure(Detection(p.class_name, p.confidence, p.box), scale)
            mp = measure(p, scale)
            for cls in (t.class_name, "all"):
                e = errors.setdefault(cls, {k: [] for k in ("area", "area_box", "diameter", "length", "true_area")})
                e["area"].append(abs(mp.area_mm2 - mt.area_mm2) / max(mt.area_mm2, 1e-9))
                e["area_box"].append(abs(box_only.area_mm2 - mt.area_mm2) / max(mt.area_mm2, 1e-9))
                e["diameter"].append(abs(mp.diameter_mm - mt.diameter_mm) / max(mt.diameter_mm, 1e-9))
                e["length"].append(abs(mp.length_mm - mt.length_mm) / max(mt.length_mm, 1e-9))
                e["true_area"].append(mt.area_mm2)
            report.matched += 1
    for cls, e in errors.items():
        report.size_errors[cls] = {
            "n": len(e["area"]),
            "area_rel_err_median": round(float(np.median(e["area"])), 4),
            "area_rel_err_box_only_median": round(float(np.median(e["area_box"])), 4),
            "diameter_rel_err_median": round(float(np.median(e["diameter"])), 4),
            "length_rel_err_median": round(float(np.median(e["length"])), 4),
        }
        report.area_mm2[cls] = {"true_median": round(float(np.median(e["true_area"])), 3)}
    return report


def size_table(report: SizeReport) -> str:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f} %"

    lines = [f"size-based verdicts under {report.recipe} ({report.scale}), {report.images} images: "
             f"escape {pct(report.escape_rate)} ({report.escapes}/{report.truth_rejects}), "
             f"false reject {pct(report.false_reject_rate)} ({report.false_rejects}/{report.truth_passes})",
             "", "| class | matched | area err (as measured) | area err (box only) | diameter err | length err |",
             "|---|---:|---:|---:|---:|---:|"]
    for cls, e in sorted(report.size_errors.items(), key=lambda kv: kv[0] == "all"):
        lines.append(f"| {cls} | {e['n']} | {pct(e['area_rel_err_median'])} | {pct(e['area_rel_err_box_only_median'])}"
                     f" | {pct(e['diameter_rel_err_median'])} | {pct(e['length_rel_err_median'])} |")
    lines.append("")
    lines.append("errors are medians of |measured - true| / true over matched defects (same class, box IoU >= 0.5)")
    return "\n".join(lines) + "\n"


def scale_for_eval(recipe: Recipe, calibration: str | Path | None = None) -> Scale:
    """A calibration file when given, else the recipe's nominal pixel_size_mm."""
    if calibration is not None:
        from inspection.domain.calibration import load_calibration

        return Scale.calibrated(load_calibration(calibration))
    if recipe.pixel_size_mm is None:
        raise ValueError(f"{recipe.source_file or recipe.name}: no pixel_size_mm; give --calibration FILE")
    return Scale.nominal(recipe.pixel_size_mm)


def write_size_report(report: SizeReport, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "sizes.json").write_text(json.dumps(report.as_dict(), indent=1))
    (out / "sizes.md").write_text(size_table(report))
    return out / "sizes.md"


def write_heldout(product: str, out: Path, start: int, count: int, imgsz: int = 320, seed: int = 1234) -> Path:
    """Render parts `start`..`start+count` with segmentation labels as the `test` split of a data set (for
    held-out size evaluation on indices no model was trained on)."""
    from inspection.simulation.synthetic import generator_for
    from inspection.simulation.synthetic.yolo import _write_split, _write_yaml

    gen = generator_for(product, seed=seed, imgsz=imgsz)
    if (out / "data.yaml").exists():
        return out / "data.yaml"
    splits = {"test": range(start, start + count)}
    counts = {"test": _write_split(gen, out, "test", splits["test"], "segment", None, ".png")}
    return _write_yaml(gen, out, splits, "segment", counts, None)
