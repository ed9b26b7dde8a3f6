"""Evaluate a detector on one split of a YOLO data set, the way the line will judge it.

Besides the usual detection metrics (mAP50, mAP50-95, per-class precision and recall), it counts what
the station cares about per part, at the recipe's confidence thresholds:

- escape rate: defective images on which no detection clears its threshold, so the part would pass;
- false-reject rate: good images (no labels) on which some detection clears its threshold.

``evaluate`` runs the model once over the split (at a low confidence, for the PR curves), computes all
metrics from those predictions and writes a report folder: ``metrics.json``, ``metrics.md``,
``pr_curve.png``, ``confusion_matrix.png`` and ``images.csv`` (one row per image).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from inspection.domain.images import image_files
from inspection.domain.matching import greedy_match
from inspection.security.inputs import csv_cell

if TYPE_CHECKING:
    from inspection.domain.recipe import Recipe

__all__ = [
    "EvalReport",
    "ImageResult",
    "Labels",
    "comparison_table",
    "compute_metrics",
    "evaluate",
    "image_outcomes",
    "load_split",
    "metrics_table",
    "predict_split",
    "thresholds_from_recipe",
    "thresholds_of",
    "write_report",
]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


@dataclass(frozen=True, slots=True)
class Labels:
    """Boxes of one image (ground truth or predictions): xyxy pixels, class ids, scores (1 for truth)."""

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Labels:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))

    @classmethod
    def of(
        cls, boxes: Sequence[Sequence[float]], classes: Sequence[int], scores: Sequence[float] | None = None
    ) -> Labels:
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        c = np.asarray(classes, np.int64).reshape(-1)
        s = np.ones(len(c), np.float32) if scores is None else np.asarray(scores, np.float32).reshape(-1)
        if not (len(b) == len(c) == len(s)):
            raise ValueError(f"expected as many boxes, classes and scores, got {len(b)}, {len(c)}, {len(s)}")
        return cls(b, c, s)

    def above(self, thresholds: np.ndarray) -> Labels:
        """Only the boxes whose score clears their class's threshold."""
        keep = self.scores >= thresholds[self.classes] if len(self.classes) else np.zeros(0, bool)
        return Labels(self.boxes[keep], self.classes[keep], self.scores[keep])


@dataclass(frozen=True, slots=True)
class ImageResult:
    image: str
    defective: bool
    flagged: bool
    outcome: str  # "ok-pass", "ok-reject", "escape", "false-reject"
    truth: int
    detections: int
    verdict: str = ""  # the recipe judge's verdict when the line's path evaluated it (training.line_eval)


@dataclass(slots=True)
class EvalReport:
    """Everything ``evaluate`` measured; ``metrics_table`` renders it."""

    model: str
    data: str
    split: str
    images: int
    defective_images: int
    good_images: int
    map50: float
    map50_95: float
    escape_rate: float | None
    false_reject_rate: float | None
    thresholds: dict[str, float]
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    out_dir: str = ""
    # set by training.line_eval: which runtime ran the model, its model id, parts given the fail-safe verdict
    runtime: str = ""
    model_id: str = ""
    failsafe_parts: int = 0
    # (truths, predictions, class names) when asked for, e.g. to tune thresholds; never written to disk
    predictions: tuple | None = field(default=None, repr=False, compare=False)

    def headline(self) -> dict[str, float | None]:
        return {
            "mAP50": round(self.map50, 4),
            "mAP50-95": round(self.map50_95, 4),
            "escape_rate": None if self.escape_rate is None else round(self.escape_rate, 4),
            "false_reject_rate": None if self.false_reject_rate is None else round(self.false_reject_rate, 4),
        }


# -- data -----------------------------------------------------------------------------------------------


def load_split(data_yaml: str | Path, split: str = "test") -> tuple[list[Path], list[Labels], dict[int, str]]:
    """Image paths, ground truth (pixels) and class names of a split of a YOLO detection data set."""
    import cv2

    meta = yaml.safe_load(Path(data_yaml).read_text())
    if split not in meta:
        available = [k for k in ("train", "val", "test") if k in meta]
        raise ValueError(f"{data_yaml}: no split {split!r}; it has {available}")
    root = Path(meta.get("path") or Path(data_yaml).parent)
    folder = root / str(meta[split])
    names = meta["names"] if isinstance(meta["names"], dict) else dict(enumerate(meta["names"]))
    images = image_files(folder)
    if not images:  # metrics of nothing would read as a perfect model
        raise ValueError(f"{data_yaml}: split {split!r} ({folder}) holds no images")
    truths = []
    for image in images:
        pixels = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise ValueError(f"{image}: cannot be decoded")
        label = folder.parent.parent / "labels" / split / f"{image.stem}.txt"
        truths.append(_read_label(label, pixels.shape[1], pixels.shape[0]))
        unknown = sorted({int(c) for c in truths[-1].classes} - {int(k) for k in names})
        if unknown:
            raise ValueError(f"{label}: class {unknown[0]} is not among the {len(names)} classes of {data_yaml}")
    return images, truths, {int(k): str(v) for k, v in names.items()}


def _read_label(path: Path, width: int, height: int) -> Labels:
    if not path.is_file():
        return Labels.empty()
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        return Labels.empty()
    classes = [int(r[0]) for r in rows]
    boxes = []
    for r in rows:
        values = np.asarray([float(v) for v in r[1:]], np.float64)
        if len(values) == 4:
            cx, cy, w, h = values
            boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
        else:  # a segmentation polygon: its bounding box
            xs, ys = values[0::2] * width, values[1::2] * height
            boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
    return Labels.of(boxes, classes)


def predict_split(
    model_path: str | Path, images: Sequence[Path], imgsz: int, device: str = "cpu", conf: float = 0.001
) -> list[Labels]:
    """Predictions of a model for each image, down to ``conf`` (for PR curves)."""
    from training.train import _offline

    _offline(2)
    from ultralytics import YOLO

    from inspection.inference.model_files import check_model_file
    from training.progress import track

    model = YOLO(str(check_model_file(model_path)))
    out = []
    batches = range(0, len(images), 16)
    for start in track(batches, f"predicting ({len(images)} images)", len(batches)):
        batch = [str(p) for p in images[start : start + 16]]
        for result in model.predict(batch, imgsz=imgsz, conf=conf, device=device, verbose=False, max_det=100):
            boxes = result.boxes
            out.append(
                Labels.of(boxes.xyxy.cpu().numpy(), boxes.cls.cpu().numpy().astype(int), boxes.conf.cpu().numpy())
            )
    return out


# -- metrics --------------------------------------------------------------------------------------------


def _match(truth: Labels, pred: Labels, iou_min: float, same_class: bool = True) -> np.ndarray:
    """Greedy matching by descending score: index of the matched truth box per prediction, -1 if none."""
    return greedy_match(pred.boxes, pred.scores, pred.classes if same_class else None, truth.boxes,
                        truth.classes if same_class else None, iou_min)


def image_outcomes(
    names: Sequence[Path | str], truths: Sequence[Labels], preds: Sequence[Labels], thresholds: np.ndarray
) -> list[ImageResult]:
    """Verdict per image at the thresholds: any detection above its class threshold rejects the part."""
    results = []
    for name, truth, pred in zip(names, truths, preds, strict=True):
        kept = pred.above(thresholds)
        defective, flagged = len(truth.classes) > 0, len(kept.classes) > 0
        outcome = {
            (True, True): "ok-reject",
            (True, False): "escape",
            (False, True): "false-reject",
            (False, False): "ok-pass",
        }[(defective, flagged)]
        results.append(ImageResult(str(name), defective, flagged, outcome, len(truth.classes), len(kept.classes)))
    return results


def thresholds_from_recipe(path: str | Path) -> dict[str, float]:
    """Per-class confidence thresholds of a station recipe; ignored classes never reject (threshold > 1).

    A "review" class counts as flagged: the part goes to a person, it does not escape. The anomaly model's
    class is left out: a detector being evaluated does not make it (in a `combined` station the anomaly
    model does).
    """
    from inspection.domain.recipe import load_recipe

    return thresholds_of(load_recipe(path))


def thresholds_of(recipe: Recipe) -> dict[str, float]:
    """`thresholds_from_recipe` of a loaded recipe."""
    from inspection.anomaly.detector import ANOMALY_CLASS

    table = {"default": 1.01 if recipe.default.action == "ignore" else recipe.default.min_confidence}
    for name, rule in recipe.classes.items():
        if name != ANOMALY_CLASS:
            table[name] = 1.01 if rule.action == "ignore" else rule.min_confidence
    return table


def _thresholds(names: Mapping[int, str], conf: float | Mapping[str, float]) -> np.ndarray:
    n = max(names) + 1 if names else 0
    if isinstance(conf, Mapping):
        unknown = sorted(set(conf) - set(names.values()) - {"default"})
        if unknown:
            raise ValueError(f"thresholds for unknown classes {unknown}; classes are {list(names.values())}")
        default = float(conf.get("default", 0.25))
        return np.array([float(conf.get(names.get(i, ""), default)) for i in range(n)], np.float32)
    return np.full(n, float(conf), np.float32)


def compute_metrics(
    truths: Sequence[Labels],
    preds: Sequence[Labels],
    names: Mapping[int, str],
    conf: float | Mapping[str, float] = 0.25,
    image_names: Sequence[Path | str] | None = None,
) -> tuple[EvalReport, list[ImageResult], dict[str, np.ndarray]]:
    """All metrics from predictions; also the per-image verdicts and the curves for plotting."""
    from ultralytics.utils.metrics import ap_per_class

    thresholds = _thresholds(names, conf)
    tp, scores, pred_cls = _tp_matrix(truths, preds)
    target_cls = np.concatenate([t.classes for t in truths]) if truths else np.zeros(0)
    ap_result = ap_per_class(tp, scores, pred_cls, target_cls, plot=False, names=dict(names))
    ap, classes_present, x, prec_values = ap_result[5], ap_result[6], ap_result[10], ap_result[11]
    images = image_outcomes(image_names or [str(i) for i in range(len(truths))], truths, preds, thresholds)
    defective = sum(r.defective for r in images)
    good = len(images) - defective
    report = EvalReport(
        model="",
        data="",
        split="",
        images=len(images),
        defective_images=defective,
        good_images=good,
        map50=float(ap[:, 0].mean()) if len(ap) else 0.0,
        map50_95=float(ap.mean()) if len(ap) else 0.0,
        escape_rate=sum(r.outcome == "escape" for r in images) / defective if defective else None,
        false_reject_rate=sum(r.outcome == "false-reject" for r in images) / good if good else None,
        thresholds={names[i]: float(thresholds[i]) for i in sorted(names)},
    )
    report.per_class = _per_class(truths, preds, names, thresholds, ap, classes_present)
    report.confusion = _confusion(truths, preds, thresholds, len(thresholds)).tolist()
    curves = {"recall": x, "precision": prec_values, "classes": classes_present}
    return report, images, curves


def _tp_matrix(truths: Sequence[Labels], preds: Sequence[Labels]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tps, scores, classes = [], [], []
    for truth, pred in zip(truths, preds, strict=True):
        tp = np.zeros((len(pred.classes), len(IOU_THRESHOLDS)), bool)
        for j, iou_min in enumerate(IOU_THRESHOLDS):
            tp[:, j] = _match(truth, pred, float(iou_min)) >= 0
        tps.append(tp)
        scores.append(pred.scores)
        classes.append(pred.classes)
    if not tps:
        return np.zeros((0, 10), bool), np.zeros(0), np.zeros(0)
    return np.concatenate(tps), np.concatenate(scores), np.concatenate(classes)


def _per_class(
    truths: Sequence[Labels],
    preds: Sequence[Labels],
    names: Mapping[int, str],
    thresholds: np.ndarray,
    ap: np.ndarray,
    classes_present: np.ndarray,
) -> dict[str, dict[str, float]]:
    """Precision and recall at the thresholds (IoU 0.5), AP50 and AP50-95 per class."""
    n = len(thresholds)
    tp, fp, gt = np.zeros(n), np.zeros(n), np.zeros(n)
    for truth, pred in zip(truths, preds, strict=True):
        kept = pred.above(thresholds)
        hit = _match(truth, kept, 0.5) >= 0
        np.add.at(tp, kept.classes[hit], 1)
        np.add.at(fp, kept.classes[~hit], 1)
        np.add.at(gt, truth.classes, 1)
    ap_of = {int(c): ap[i] for i, c in enumerate(classes_present)}
    table = {}
    for i in sorted(names):
        row = ap_of.get(i, np.zeros(len(IOU_THRESHOLDS)))
        table[names[i]] = {
            "instances": int(gt[i]),
            "precision": float(tp[i] / (tp[i] + fp[i])) if tp[i] + fp[i] else 0.0,
            "recall": float(tp[i] / gt[i]) if gt[i] else 0.0,
            "ap50": float(row[0]),
            "ap50_95": float(np.mean(row)),
        }
    return table


def _confusion(truths: Sequence[Labels], preds: Sequence[Labels], thresholds: np.ndarray, n: int) -> np.ndarray:
    """Rows: true class or background (last); columns: predicted class or background (last)."""
    matrix = np.zeros((n + 1, n + 1), np.int64)
    for truth, pred in zip(truths, preds, strict=True):
        kept = pred.above(thresholds)
        matched = _match(truth, kept, 0.5, same_class=False)
        for p, t in enumerate(matched):
            matrix[truth.classes[t] if t >= 0 else n, kept.classes[p]] += 1
        missed = np.setdiff1d(np.arange(len(truth.classes)), matched[matched >= 0])
        for t in missed:
            matrix[truth.classes[t], n] += 1
    return matrix


# -- report ---------------------------------------------------------------------------------------------


def comparison_table(candidate: EvalReport, production: EvalReport) -> str:
    """Candidate vs production on the same split and thresholds: what a promotion decision reads."""

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    def delta(new: float | None, old: float | None) -> str:
        return "n/a" if new is None or old is None else f"{new - old:+.3f}"

    rows = [("mAP50", candidate.map50, production.map50), ("mAP50-95", candidate.map50_95, production.map50_95),
            ("escape rate", candidate.escape_rate, production.escape_rate),
            ("false-reject rate", candidate.false_reject_rate, production.false_reject_rate)]
    lines = [f"candidate `{candidate.model}` vs production `{production.model}`, split `{candidate.split}`",
             "", "| metric | production | candidate | change |", "|---|---|---|---|"]
    lines += [f"| {name} | {cell(old)} | {cell(new)} | {delta(new, old)} |" for name, new, old in rows]
    return "\n".join(lines) + "\n"


def metrics_table(report: EvalReport) -> str:
    """Markdown table: the headline metrics, then one row per class."""

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"model `{report.model}` on `{report.data}` split `{report.split}`: {report.images} images "
        f"({report.defective_images} defective, {report.good_images} good)",
        *([f"runtime: {report.runtime}; escape / false-reject rates are its verdicts "
           f"({report.failsafe_parts} fail-safe)"] if report.runtime else []),
        "",
        "| mAP50 | mAP50-95 | escape rate | false-reject rate |",
        "|---|---|---|---|",
        f"| {fmt(report.map50)} | {fmt(report.map50_95)} | {fmt(report.escape_rate)} "
        f"| {fmt(report.false_reject_rate)} |",
        "",
        "| class | threshold | instances | precision | recall | AP50 | AP50-95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in report.per_class.items():
        lines.append(
            f"| {name} | {report.thresholds[name]:.2f} | {row['instances']} | {row['precision']:.3f} | "
            f"{row['recall']:.3f} | {row['ap50']:.3f} | {row['ap50_95']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def write_report(report: EvalReport, images: Sequence[ImageResult], curves: dict[str, np.ndarray], out: Path) -> Path:
    """Write metrics.json/.md, images.csv, pr_curve.png and confusion_matrix.png into ``out``."""
    from training.plots import plot_confusion, plot_pr_curves

    out.mkdir(parents=True, exist_ok=True)
    report.out_dir = str(out)
    metrics = {k: v for k, v in asdict(report).items() if k != "predictions"}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "metrics.md").write_text(metrics_table(report))
    with (out / "images.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "defective", "flagged", "outcome", "truth_boxes", "detections", "verdict"])
        for r in images:
            writer.writerow([csv_cell(r.image), r.defective, r.flagged, r.outcome, r.truth, r.detections,
                             r.verdict])
    names = list(report.per_class)
    plot_pr_curves(curves, names, out / "pr_curve.png")
    plot_confusion(np.asarray(report.confusion), [*names, "background"], out / "confusion_matrix.png")
    return out


def _check_model_classes(model_path: str | Path, names: Mapping[int, str]) -> None:
    """Class i of the model must be class i of the data: otherwise every number is measured against the
    wrong labels (a model of 'scratch' scored on 'dent')."""
    from inspection.inference.torch_runtime import load_yolo

    if Path(model_path).suffix != ".pt":
        return  # exported files carry their names in metadata the backends check
    model_names = dict(load_yolo(Path(model_path)).names)
    clash = {i: (model_names[i], names[i]) for i in names if i in model_names and model_names[i] != names[i]}
    if clash:
        i, (theirs, ours) = next(iter(clash.items()))
        raise ValueError(f"{model_path}: class {i} is {theirs!r} in the model but {ours!r} in the data set "
                         f"({len(clash)} such); evaluate it on data labelled with its classes")


def evaluate(
    data_yaml: str | Path,
    model_path: str | Path,
    split: str = "test",
    conf: float | Mapping[str, float] = 0.25,
    out_dir: str | Path | None = None,
    imgsz: int | None = None,
    device: str = "auto",
    keep_predictions: bool = False,
) -> EvalReport:
    """Run the model over a split, compute every metric and write the report folder.

    ``keep_predictions`` keeps the raw predictions on the report (``report.predictions``)."""
    from training.train import resolve_device

    images, truths, names = load_split(data_yaml, split)
    _check_model_classes(model_path, names)
    size = imgsz or _model_imgsz(model_path)
    preds = predict_split(model_path, images, size, resolve_device(device))
    report, per_image, curves = compute_metrics(truths, preds, names, conf, image_names=[p.name for p in images])
    report.model, report.data, report.split = str(model_path), str(data_yaml), split
    out = Path(out_dir) if out_dir else Path("runs") / "eval" / f"{Path(model_path).stem}-{split}"
    write_report(report, per_image, curves, out)
    if keep_predictions:
        report.predictions = (truths, preds, names)
    return report


def _model_imgsz(model_path: str | Path) -> int:
    """The image size the model was trained at (from its checkpoint), else 640."""
    from inspection.inference.model_files import safe_torch_load

    ckpt = safe_torch_load(model_path)
    args = ckpt.get("train_args") or {}
    return int(args.get("imgsz", 640))
