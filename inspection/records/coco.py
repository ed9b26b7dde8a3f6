"""Label work that leaves the station and comes back: COCO for CVAT, tasks for Label Studio.

Export (`export_review_queue`, `export_dataset_version`) writes one folder an annotator can open:

    images/                  the images, by file name
    annotations.json         COCO instances: CVAT "COCO 1.0" import; the model's detections are the
                             annotations (pre-annotations, attribute `source: model`, `score`) unless a
                             person already labelled the image, then those labels
    predictions.json         COCO results (image_id, category_id, bbox, segmentation, score)
    label_studio_tasks.json  Label Studio tasks: image URL + `predictions` (rectangle/polygon labels)
    label_studio_config.xml  the labelling interface for those tasks (the station's classes)
    README.txt               how to import both

Import (`read_coco`) reads every polygon of a `segmentation` list and RLE masks (`iscrowd`, both the
uncompressed counts list and COCO's compressed string), each part one label, and reports errors per
image so that an image with a broken annotation is skipped, never imported half-labelled (it would
teach the model that its unlabelled defect is background). RLE is implemented here (pycocotools'
algorithm, `maskApi.c`), so no compiled dependency is needed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from inspection.domain.images import IMAGE_SUFFIXES
from inspection.domain.types import Box
from inspection.errors import DataError
from inspection.records.labels import Label
from inspection.records.store import Store

__all__ = [
    "CocoDataset",
    "CocoImage",
    "ExportReport",
    "export_dataset_version",
    "export_review_queue",
    "mask_polygons",
    "read_coco",
    "rle_decode",
    "rle_encode",
]

# --- RLE (COCO's run-length encoding, column-major) ------------------------------------------------------


def _counts_from_string(s: str) -> list[int]:
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _counts_to_string(counts: Sequence[int]) -> str:
    out = []
    for i, value in enumerate(counts):
        x = int(value) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if c & 0x10 else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_decode(rle: dict[str, Any], height: int | None = None, width: int | None = None) -> np.ndarray:
    """A COCO RLE (`{"size": [h, w], "counts": [...] or "compressed"}`) as a uint8 mask of 0/1."""
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError):
        raise DataError(f"RLE: expected {{'size': [h, w], 'counts': …}}, got {str(rle)[:80]}") from None
    if (height is not None and h != height) or (width is not None and w != width):
        raise DataError(f"RLE: mask size {w}x{h} differs from the image's {width}x{height}")
    runs = _counts_from_string(counts) if isinstance(counts, str) else [int(c) for c in counts]
    if any(r < 0 for r in runs) or sum(runs) != h * w:
        raise DataError(f"RLE: runs add up to {sum(runs)} pixels, the {w}x{h} mask has {h * w}")
    flat = np.zeros(h * w, dtype=np.uint8)
    position, value = 0, 0
    for run in runs:
        if value:
            flat[position:position + run] = 1
        position += run
        value ^= 1
    return flat.reshape((w, h)).T.copy()  # COCO runs go down the columns


def rle_encode(mask: np.ndarray, compressed: bool = True) -> dict[str, Any]:
    """A binary mask as COCO RLE (compressed string counts by default); runs start with background."""
    h, w = mask.shape[:2]
    flat = (np.asarray(mask) > 0).T.reshape(-1)
    if flat.size == 0:
        counts: list[int] = [0]
    else:
        edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        counts = [int(r) for r in np.diff(np.concatenate(([0], edges, [flat.size])))]
        if flat[0]:
            counts.insert(0, 0)
    return {"size": [int(h), int(w)], "counts": _counts_to_string(counts) if compressed else counts}


def mask_polygons(mask: np.ndarray, min_points: int = 3) -> list[tuple[tuple[float, float], ...]]:
    """The outline of every separate region of a mask, as polygons (pixel corners, image coordinates)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        points = contour.reshape(-1, 2)
        if len(points) >= min_points:
            polygons.append(tuple((float(x), float(y)) for x, y in points))
        elif len(points) > 0:  # a one- or two-pixel region: its pixel square
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0) + 1
            polygons.append(((float(x0), float(y0)), (float(x1), float(y0)), (float(x1), float(y1)),
                             (float(x0), float(y1))))
    return polygons


# --- import --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CocoImage:
    image_id: int
    file_name: str
    width: int
    height: int
    labels: tuple[Label, ...]
    errors: tuple[str, ...] = ()  # non-empty: do not import this image (it would be half-labelled)


@dataclass(frozen=True, slots=True)
class CocoDataset:
    images: tuple[CocoImage, ...]
    categories: dict[int, str]
    errors: tuple[str, ...] = ()  # annotations that name no known image

    @property
    def good(self) -> list[CocoImage]:
        return [i for i in self.images if not i.errors]


def _polygon_label(name: str, flat: Sequence[float], info: dict[str, Any]) -> Label:
    if len(flat) < 6 or len(flat) % 2:
        raise ValueError(f"a polygon needs at least 3 x/y pairs, got {len(flat)} numbers")
    points = tuple((float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2))
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if min(xs) < -0.5 or min(ys) < -0.5 or max(xs) > info["width"] + 0.5 or max(ys) > info["height"] + 0.5:
        raise ValueError(f"polygon outside the {info['width']}x{info['height']} image")
    return Label(name, Box(max(0.0, min(xs)), max(0.0, min(ys)), min(float(info["width"]), max(xs)),
                           min(float(info["height"]), max(ys))), points)


def annotation_labels(ann: dict[str, Any], info: dict[str, Any], name: str) -> list[Label]:
    """Every label of one COCO annotation: one per polygon, one per region of an RLE mask, else its bbox."""
    x, y, w, h = (float(v) for v in ann["bbox"])
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > info["width"] + 0.5 or y + h > info["height"] + 0.5:
        raise ValueError(f"bbox {ann['bbox']} outside the {info['width']}x{info['height']} image")
    segmentation = ann.get("segmentation")
    if isinstance(segmentation, list) and segmentation:
        polygons = segmentation if isinstance(segmentation[0], list) else [segmentation]
        return [_polygon_label(name, flat, info) for flat in polygons]
    if isinstance(segmentation, dict):
        mask = rle_decode(segmentation, int(info["height"]), int(info["width"]))
        parts = mask_polygons(mask)
        if not parts:
            raise ValueError("RLE mask is empty")
        return [_polygon_label(name, [v for point in p for v in point], info) for p in parts]
    return [Label(name, Box(x, y, x + w, y + h))]


def _unique_ids(entries: list[dict[str, Any]], what: str, source: str) -> dict[int, dict[str, Any]]:
    """id → entry; an id given twice would silently relabel (categories) or re-attach boxes (images)."""
    out: dict[int, dict[str, Any]] = {}
    for entry in entries:
        key = int(entry["id"])
        if key in out:
            first, second = (e.get("name", e.get("file_name")) for e in (out[key], entry))
            raise DataError(f"{source}: {what} id {key} is given twice ({first!r} and {second!r}); each {what} "
                            "needs its own id")
        out[key] = entry
    return out


def read_coco(annotations: Path | str | dict[str, Any]) -> CocoDataset:
    """A COCO instances file: every image with all its labels, or the errors that keep it out."""
    source = "COCO data" if isinstance(annotations, dict) else str(annotations)
    try:
        coco = annotations if isinstance(annotations, dict) else json.loads(Path(annotations).read_text())
        categories = _unique_ids(coco["categories"], "category", source)
        categories = {i: str(c["name"]) for i, c in categories.items()}
        images = _unique_ids(coco["images"], "image", source)
    except (OSError, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise DataError(f"{source}: not a COCO annotation file ({type(exc).__name__}: {exc})") from None
    labels: dict[int, list[Label]] = {i: [] for i in images}
    errors: dict[int, list[str]] = {i: [] for i in images}
    orphans: list[str] = []
    for index, ann in enumerate(coco.get("annotations", [])):
        where = f"annotations[{index}]"
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        if image_id not in images:
            orphans.append(f"{source}: {where}: image_id {image_id!r} is not among the images")
            continue
        try:
            if ann.get("category_id") not in categories:
                raise ValueError(f"category_id {ann.get('category_id')!r} is not among the categories")
            labels[image_id] += annotation_labels(ann, images[image_id], categories[ann["category_id"]])
        except (KeyError, ValueError, TypeError, DataError) as exc:
            errors[image_id].append(f"{where}: {exc}")
    out = []
    for image_id, info in images.items():
        try:
            entry = CocoImage(image_id, str(info["file_name"]), int(info["width"]), int(info["height"]),
                              tuple(labels[image_id]), tuple(errors[image_id]))
        except (KeyError, ValueError, TypeError, OverflowError) as exc:
            entry = CocoImage(image_id, str(info.get("file_name", "?")), 0, 0, (), (f"image entry: {exc}",))
        out.append(entry)
    return CocoDataset(tuple(out), categories, tuple(orphans))


# --- export --------------------------------------------------------------------------------------------


@dataclass
class ExportReport:
    folder: Path
    images: int = 0
    annotations: int = 0
    predictions: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Item:
    image: Path
    labels: tuple[Label, ...]  # a person's labels (annotations), may be empty
    predictions: tuple[tuple[Label, float], ...]  # the model's detections with confidence
    model: str = ""


def _flat(polygon: Sequence[tuple[float, float]]) -> list[float]:
    return [round(float(v), 2) for point in polygon for v in point]


def _coco_annotation(ann_id: int, image_id: int, category_id: int, label: Label,
                     score: float | None) -> dict[str, Any]:
    b = label.box
    seg = [_flat(label.polygon)] if label.polygon else []
    area = float(cv2.contourArea(np.array(label.polygon, dtype=np.float32))) if label.polygon else \
        (b.x2 - b.x1) * (b.y2 - b.y1)
    ann = {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": 0, "segmentation": seg,
           "bbox": [round(b.x1, 2), round(b.y1, 2), round(b.x2 - b.x1, 2), round(b.y2 - b.y1, 2)],
           "area": round(area, 2)}
    if score is not None:
        ann["score"] = round(score, 4)
        ann["attributes"] = {"source": "model", "score": round(score, 4), "occluded": False}
    return ann


def _ls_result(label: Label, w: int, h: int, score: float | None, index: int) -> dict[str, Any]:
    """One Label Studio region (percent of the image, as its image tags expect)."""
    if label.polygon:
        value: dict[str, Any] = {"points": [[100.0 * x / w, 100.0 * y / h] for x, y in label.polygon],
                                 "polygonlabels": [label.class_name]}
        kind, from_name = "polygonlabels", "polygon"
    else:
        b = label.box
        value = {"x": 100.0 * b.x1 / w, "y": 100.0 * b.y1 / h, "width": 100.0 * (b.x2 - b.x1) / w,
                 "height": 100.0 * (b.y2 - b.y1) / h, "rotation": 0, "rectanglelabels": [label.class_name]}
        kind, from_name = "rectanglelabels", "label"
    result = {"id": f"r{index}", "from_name": from_name, "to_name": "image", "type": kind,
              "original_width": w, "original_height": h, "image_rotation": 0, "value": value}
    if score is not None:
        result["score"] = round(score, 4)
    return result


def _ls_config(classes: Sequence[str]) -> str:
    labels = "\n".join(f'    <Label value="{c}"/>' for c in classes)
    return ("<View>\n  <Image name=\"image\" value=\"$image\" zoom=\"true\"/>\n"
            f"  <RectangleLabels name=\"label\" toName=\"image\">\n{labels}\n  </RectangleLabels>\n"
            f"  <PolygonLabels name=\"polygon\" toName=\"image\">\n{labels}\n  </PolygonLabels>\n</View>\n")


_README = """Exported by the inspection station ({what}).

CVAT: create a task with the images in images/, then Actions > Upload annotations > "COCO 1.0" >
annotations.json. Annotations with the attribute source=model are the model's detections
(pre-annotations) to correct; the others are labels a person made at the station.

Label Studio: create a project, Settings > Labeling Interface > Code: paste label_studio_config.xml;
add a Local Storage pointing at this folder (LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true,
document root = the parent of this folder), then Import label_studio_tasks.json: the model's detections
appear as predictions.

Back to the station: export COCO from the tool, then
  station dataset import --db station.db --coco annotations.json --images images/
"""


def _write_export(items: list[_Item], out: Path, what: str, url_prefix: str) -> ExportReport:
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    report = ExportReport(out)
    classes = sorted({lb.class_name for it in items for lb in it.labels}
                     | {lb.class_name for it in items for lb, _ in it.predictions})
    category = {name: i + 1 for i, name in enumerate(classes)}
    images, annotations, predictions, tasks = [], [], [], []
    used_names: set[str] = set()
    for item in items:
        frame = cv2.imread(str(item.image), cv2.IMREAD_UNCHANGED)
        if frame is None:
            report.skipped.append(f"{item.image}: missing or not an image")
            continue
        h, w = frame.shape[:2]
        name = item.image.name
        if name in used_names:
            name = f"{len(images):06d}_{name}"
        used_names.add(name)
        shutil.copyfile(item.image, out / "images" / name)
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for label in item.labels:
            annotations.append(_coco_annotation(len(annotations) + 1, image_id, category[label.class_name], label,
                                                None))
        if not item.labels:  # pre-annotations: the model's detections, for the annotator to correct
            for label, score in item.predictions:
                annotations.append(_coco_annotation(len(annotations) + 1, image_id, category[label.class_name],
                                                    label, score))
        for label, score in item.predictions:
            p = _coco_annotation(0, image_id, category[label.class_name], label, score)
            predictions.append({k: p[k] for k in ("image_id", "category_id", "bbox", "segmentation", "score")})
        task: dict[str, Any] = {"data": {"image": f"{url_prefix}images/{name}"}}
        if item.predictions:
            task["predictions"] = [{"model_version": item.model or "station",
                                    "score": round(float(np.mean([s for _, s in item.predictions])), 4),
                                    "result": [_ls_result(lb, w, h, s, i)
                                               for i, (lb, s) in enumerate(item.predictions)]}]
        if item.labels:
            task["annotations"] = [{"result": [_ls_result(lb, w, h, None, i) for i, lb in enumerate(item.labels)]}]
        tasks.append(task)
    coco = {"info": {"description": f"inspection station export: {what}"}, "licenses": [],
            "categories": [{"id": i, "name": n, "supercategory": "defect"} for n, i in category.items()],
            "images": images, "annotations": annotations}
    (out / "annotations.json").write_text(json.dumps(coco, indent=1))
    (out / "predictions.json").write_text(json.dumps(predictions, indent=1))
    (out / "label_studio_tasks.json").write_text(json.dumps(tasks, indent=1))
    (out / "label_studio_config.xml").write_text(_ls_config(classes))
    (out / "README.txt").write_text(_README.format(what=what))
    report.images, report.annotations, report.predictions = len(images), len(annotations), len(predictions)
    return report


def _polygon(text: str | None) -> tuple[tuple[float, float], ...] | None:
    return tuple(map(tuple, json.loads(text))) if text else None  # type: ignore[arg-type]


def export_review_queue(store: Store, out: Path | str, statuses: Sequence[str] = ("pending",),
                        url_prefix: str = "/data/local-files/?d=") -> ExportReport:
    """The samples with these review statuses (default: the queue), with the model's detections as
    pre-annotations and any labels a person already made."""
    from inspection.records.labels import LabelBook
    from inspection.records.samples import ensure_samples_table

    ensure_samples_table(store)
    book = LabelBook(store)
    marks = ",".join("?" for _ in statuses)
    samples = store.query(f"select * from samples where status in ({marks}) order by value desc, id", list(statuses))
    items = []
    for s in samples:
        predictions: list[tuple[Label, float]] = []
        model = ""
        if s["inspection_id"] is not None:
            for r in store.query("select * from detections where inspection_id = ? order by confidence desc",
                                 [s["inspection_id"]]):
                predictions.append((Label(r["class_name"], Box(r["x1"], r["y1"], r["x2"], r["y2"]),
                                          _polygon(r["polygon"])), float(r["confidence"])))
            rows = store.query("select model_id from inspections where id = ?", [s["inspection_id"]])
            model = str(rows[0]["model_id"] or "") if rows else ""
        items.append(_Item(Path(s["image_path"]), tuple(book.labels(s["id"])), tuple(predictions), model))
    return _write_export(items, Path(out), f"review queue ({', '.join(statuses)}) of {store.path.name}",
                         url_prefix)


def export_dataset_version(version_dir: Path | str, out: Path | str,
                           url_prefix: str = "/data/local-files/?d=") -> ExportReport:
    """A dataset version folder (YOLO: data.yaml, images/<split>/, labels/<split>/) as COCO + Label Studio."""
    root = Path(version_dir)
    descriptor = root / "data.yaml"
    if not descriptor.is_file():
        raise DataError(f"{root}: no data.yaml; give the folder of a dataset version (station dataset build)")
    raw = yaml.safe_load(descriptor.read_text()) or {}
    names_raw = raw.get("names") or {}
    names = [names_raw[k] for k in sorted(names_raw)] if isinstance(names_raw, dict) else list(names_raw)
    items = []
    for image in sorted(p for p in (root / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        frame = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
        if frame is None:
            continue
        h, w = frame.shape[:2]
        label_file = root / "labels" / image.relative_to(root / "images").with_suffix(".txt")
        labels = []
        for line in label_file.read_text().splitlines() if label_file.is_file() else []:
            parts = line.split()
            if not parts:
                continue
            cls, values = int(parts[0]), [float(v) for v in parts[1:]]
            if len(values) == 4:
                cx, cy, bw, bh = values
                labels.append(Label(names[cls], Box((cx - bw / 2) * w, (cy - bh / 2) * h,
                                                    (cx + bw / 2) * w, (cy + bh / 2) * h)))
            else:
                pts = tuple((values[i] * w, values[i + 1] * h) for i in range(0, len(values), 2))
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                labels.append(Label(names[cls], Box(min(xs), min(ys), max(xs), max(ys)), pts))
        items.append(_Item(image, tuple(labels), ()))
    return _write_export(items, Path(out), f"dataset version {root.name}", url_prefix)
