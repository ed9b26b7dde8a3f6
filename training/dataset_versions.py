"""Dataset versions: frozen, content-hashed YOLO exports of reviewed samples, and imports.

`build_dataset_version` takes every accepted/relabelled sample with its labels from the station's
SQLite file and writes a YOLO dataset (detect or segment) with a deterministic train/val split; golden
samples go to their own `golden` split and never into train/val. The folder name is the content hash,
so a version can never change after it is built.

`import_yolo` and `import_coco` bring existing labelled images into the store as accepted samples, so
engineers can start from what they already have. Problems are reported with file and line.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import cv2
import yaml

from inspection.domain.images import image_files
from inspection.domain.types import Box
from inspection.errors import DataError
from inspection.records.coco import read_coco
from inspection.records.labels import Label, LabelBook
from inspection.records.samples import ensure_samples_table
from inspection.records.store import Store
from inspection.security.inputs import confined
from training.progress import track

__all__ = ["DatasetVersion", "ImportReport", "build_dataset_version", "import_coco", "import_yolo"]

Task = Literal["detect", "segment"]


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    version: str
    path: Path
    data_yaml: Path
    counts: dict[str, int]
    classes: tuple[str, ...]


@dataclass
class ImportReport:
    imported: int = 0
    labels: int = 0
    problems: list[str] | None = None
    without_label_file: int = 0  # YOLO images imported as good parts because no label file was found


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _split_for(image_sha: str, golden: bool, val_fraction: float) -> str:
    if golden:
        return "golden"
    return "val" if int(image_sha[:8], 16) % 10_000 < val_fraction * 10_000 else "train"


def _label_line(label: Label, class_id: int, width: int, height: int, task: Task) -> str:
    if task == "segment" and label.polygon:
        coords = " ".join(f"{min(max(x / width, 0), 1):.6f} {min(max(y / height, 0), 1):.6f}"
                          for x, y in label.polygon)
        return f"{class_id} {coords}"
    b = label.box
    return (f"{class_id} {(b.x1 + b.x2) / 2 / width:.6f} {(b.y1 + b.y2) / 2 / height:.6f} "
            f"{b.width / width:.6f} {b.height / height:.6f}")


def build_dataset_version(store: Store, out_root: Path, *, task: Task = "detect",
                          classes: tuple[str, ...] | None = None, val_fraction: float = 0.2) -> DatasetVersion:
    """Export reviewed samples as a frozen YOLO dataset named by its content hash."""
    book = LabelBook(store)
    samples = store.query("select * from samples where status in ('accepted', 'relabelled') order by id")
    if not samples:
        raise DataError(f"no reviewed samples in {store.path}: accept or relabel samples in the review queue first")
    labelled = {s["id"]: book.labels(s["id"]) for s in samples}
    names = classes or tuple(sorted({lab.class_name for labs in labelled.values() for lab in labs}))
    unknown = sorted({lab.class_name for labs in labelled.values() for lab in labs} - set(names))
    if unknown:
        raise DataError(f"labels use classes {', '.join(unknown)} that are not in the class list {', '.join(names)}")
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=out_root))
    try:
        counts = _write_samples(samples, labelled, names, staging, task, val_fraction)
        if not counts["train"] or not counts["val"]:
            raise DataError(f"{counts['train']} training and {counts['val']} validation images: both need at "
                            "least one; review more samples or change --val")
        version = "ds-" + _tree_hash(staging)[:12]
        _write_descriptor(staging, version, names, counts, task)
        final = out_root / version
        if final.exists():
            shutil.rmtree(staging)  # identical content was built before: the version is frozen
        else:
            staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return DatasetVersion(version, final, final / "data.yaml", counts, names)


def _assign_splits(samples: list[dict], val_fraction: float) -> list[tuple[dict, str, str]]:
    """(sample, image sha, split) by image hash, so a sample keeps its split across versions. With few
    samples the hash may leave val empty: then the sample with the smallest hash goes to val."""
    assigned = []
    for sample in samples:
        if not Path(sample["image_path"]).is_file():
            raise DataError(f"sample {sample['id']}: image {sample['image_path']} is missing")
        sha = _sha256(Path(sample["image_path"]))
        assigned.append((sample, sha, _split_for(sha, bool(sample["golden"]), val_fraction)))
    splits = [split for _, _, split in assigned]
    if val_fraction > 0 and "val" not in splits and splits.count("train") >= 2:
        index = min((i for i, split in enumerate(splits) if split == "train"), key=lambda i: assigned[i][1])
        assigned[index] = (assigned[index][0], assigned[index][1], "val")
    return assigned


def _write_samples(samples: list[dict], labelled: dict[int, list[Label]], names: tuple[str, ...], root: Path,
                   task: Task, val_fraction: float) -> dict[str, int]:
    counts = {"train": 0, "val": 0, "golden": 0}
    assigned = _assign_splits(samples, val_fraction)
    for sample, sha, split in track(assigned, "writing samples", len(assigned)):
        source = Path(sample["image_path"])
        image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DataError(f"sample {sample['id']}: image {source} is missing or unreadable")
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        stem = sha[:16]
        shutil.copyfile(source, root / "images" / split / f"{stem}{source.suffix}")
        height, width = image.shape[:2]
        lines = [_label_line(lab, names.index(lab.class_name), width, height, task) for lab in labelled[sample["id"]]]
        (root / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        counts[split] += 1
    return counts


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(_sha256(path).encode())
    return digest.hexdigest()


def _write_descriptor(root: Path, version: str, names: tuple[str, ...], counts: dict[str, int], task: Task) -> None:
    # No `path:` key: ultralytics then resolves the splits against this file's folder, so a version can move.
    data = {"train": "images/train", "val": "images/val", "names": dict(enumerate(names))}
    if counts["golden"]:
        data["test"] = "images/golden"
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    manifest = {"version": version, "task": task, "classes": list(names), "counts": counts,
                "built": datetime.now(UTC).isoformat(timespec="seconds")}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))


# --- imports ----------------------------------------------------------------------------------


def _problem(report: ImportReport, message: str, strict: bool) -> None:
    if strict:
        raise DataError(message)
    assert report.problems is not None
    report.problems.append(message)


def _parse_yolo_line(line: str, where: str, names: list[str], width: int, height: int) -> Label:
    parts = line.split()
    try:
        class_id, values = int(parts[0]), [float(v) for v in parts[1:]]
    except (ValueError, IndexError):
        raise DataError(f"{where}: expected 'class x y w h' or 'class x1 y1 x2 y2 …' numbers, got {line!r}") from None
    if not 0 <= class_id < len(names):
        raise DataError(f"{where}: class {class_id} out of range 0..{len(names) - 1}")
    if any(not 0 <= v <= 1 for v in values) or len(values) < 4 or (len(values) > 4 and len(values) % 2):  # NaN too
        raise DataError(f"{where}: coordinates must be 4 values or x/y pairs, each within 0..1, got {line!r}")
    if len(values) == 4:
        cx, cy, w, h = values
        return Label(names[class_id], Box((cx - w / 2) * width, (cy - h / 2) * height,
                                          (cx + w / 2) * width, (cy + h / 2) * height))
    points = tuple((values[i] * width, values[i + 1] * height) for i in range(0, len(values), 2))
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return Label(names[class_id], Box(min(xs), min(ys), max(xs), max(ys)), points)


def _store_import(store: Store, keeper_folder: Path, image_path: Path, labels: list[Label], author: str,
                  golden: bool) -> str | None:
    """Keep one imported image with its labels; returns why not when the same image (by content) is already a
    sample: a second copy could land in another split (train and val, or golden and train) with other labels."""
    sha = _sha256(image_path)
    twins = store.query("select id, part_key from samples where image_path like ?", [f"%/{sha[:16]}.%"])
    if twins:
        return (f"{image_path}: the same image is already sample {twins[0]['id']} ({twins[0]['part_key']}); "
                "not imported twice (delete that sample first to import it with other labels)")
    target = keeper_folder / f"{sha[:16]}{image_path.suffix.lower()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image_path, target)
    sample_id = store.insert("samples", {
        "inspection_id": None, "time": datetime.now(UTC).isoformat(timespec="seconds"), "part_key": image_path.name,
        "reason": "import", "value": 0.0, "verdict": "FAIL" if labels else "PASS", "image_path": str(target),
        "bytes": target.stat().st_size, "status": "accepted", "reviewed_by": author, "golden": int(golden)})
    book = LabelBook(store)
    for label in labels:
        book.insert(sample_id, label, author)
    return None


def _label_path(data_dir: Path, image_path: Path) -> Path:
    """YOLO's label of an image: the last `images` folder *inside the dataset* becomes `labels` (not the first
    "/images/" of the absolute path, which may be a folder above the dataset)."""
    parts = list(image_path.relative_to(data_dir).with_suffix(".txt").parts)
    if "images" in parts[:-1]:
        parts[len(parts) - 2 - parts[-2::-1].index("images")] = "labels"
    return data_dir.joinpath(*parts)


def import_yolo(store: Store, data_dir: Path, samples_dir: Path, *, names: list[str] | None = None,
                strict: bool = False, golden: bool = False) -> ImportReport:
    """Import a YOLO dataset folder (images/… and labels/… side by side, names from data.yaml)."""
    data_dir = Path(data_dir)
    ensure_samples_table(store)
    if names is None:
        descriptor = data_dir / "data.yaml"
        if not descriptor.is_file():
            raise DataError(f"{data_dir}: no data.yaml with class names; pass the class names explicitly")
        raw = yaml.safe_load(descriptor.read_text()) or {}
        names_raw = raw.get("names")
        if isinstance(names_raw, dict) and all(isinstance(k, int) for k in names_raw):
            names = [str(names_raw[k]) for k in sorted(names_raw)]
        elif isinstance(names_raw, list):
            names = [str(n) for n in names_raw]
        else:
            raise DataError(f"{descriptor}: names: expected a list or a mapping of class number → name, got "
                            f"{str(names_raw)[:80]!r}")
    report = ImportReport(problems=[])
    for image_path in image_files(data_dir, recursive=True):
        label_path = _label_path(data_dir, image_path)
        try:  # a link inside the dataset may point anywhere: only files that resolve inside it are read
            image_path = confined(data_dir, image_path.relative_to(data_dir), f"{data_dir}: image")
            if label_path.exists():
                label_path = confined(data_dir, label_path.relative_to(data_dir), f"{data_dir}: label")
        except DataError as exc:
            _problem(report, str(exc), strict)
            continue
        image = cv2.imread(str(image_path))
        if image is None:
            _problem(report, f"{image_path}: image cannot be decoded", strict)
            continue
        labels, bad = [], False
        lines = label_path.read_text().splitlines() if label_path.is_file() else []
        report.without_label_file += not label_path.is_file()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                labels.append(_parse_yolo_line(line, f"{label_path}:{number}", names, image.shape[1], image.shape[0]))
            except DataError as exc:
                _problem(report, str(exc), strict)
                bad = True
        if bad:
            continue  # a half-labelled image would teach the model that defects are background
        if twin := _store_import(store, Path(samples_dir) / "import" / data_dir.name, image_path, labels,
                                 f"import:{data_dir.name}", golden):
            _problem(report, twin, strict)
            continue
        report.imported += 1
        report.labels += len(labels)
    return report


def import_coco(store: Store, annotations: Path, images_dir: Path, samples_dir: Path, *, strict: bool = False,
                golden: bool = False) -> ImportReport:
    """Import a COCO detection/segmentation JSON: bbox as x, y, w, h; every polygon of a `segmentation` and
    RLE masks, each part one label (inspection.coco_interop.read_coco). An image with a broken annotation
    is skipped whole, like a YOLO image with a bad line: half-labelled it would teach defects as background."""
    ensure_samples_table(store)
    dataset = read_coco(Path(annotations))
    report = ImportReport(problems=[])
    for problem in dataset.errors:
        _problem(report, problem, strict)
    for entry in dataset.images:
        if entry.errors:
            _problem(report, f"{annotations}: image {entry.file_name} skipped: {'; '.join(entry.errors)}", strict)
            continue
        try:  # the JSON names the files: never one outside the image folder (../, absolute paths, links)
            image_path = confined(images_dir, str(entry.file_name), f"{annotations}: image {entry.file_name}")
        except DataError as exc:
            _problem(report, str(exc), strict)
            continue
        if not image_path.is_file():
            _problem(report, f"{annotations}: image {image_path} listed but missing", strict)
            continue
        image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
        if image is None:
            _problem(report, f"{image_path}: image cannot be decoded; not imported", strict)
            continue
        if image.shape[:2] != (entry.height, entry.width):  # the boxes are in the JSON's pixels, not the image's
            _problem(report, f"{annotations}: image {entry.file_name} is {image.shape[1]}×{image.shape[0]} but the "
                     f"JSON says {entry.width}×{entry.height}; its labels would land elsewhere: not imported", strict)
            continue
        if twin := _store_import(store, Path(samples_dir) / "import" / Path(annotations).stem, image_path,
                                 list(entry.labels), f"import:{Path(annotations).name}", golden):
            _problem(report, twin, strict)
            continue
        report.imported += 1
        report.labels += len(entry.labels)
    return report
