"""Import real labelled defect sets into the station's data set format (ultralytics YOLO layout).

Every problem in the source (an unreadable image, a label line that does not parse, a box outside the
image, an unknown class) is reported with its file and line. With ``strict=True`` the first problem
raises ``ImportProblem``; otherwise the affected image is left out (never imported half-labelled) and the
problem is listed in the report. Images are linked, not copied (``copy=True`` copies), so the source
set's licence and location stay where they are.

    report = convert_deeppcb(Path("../shared/data/deeppcb"), Path("/tmp/deeppcb-yolo"))
    print(report.summary())
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from inspection.errors import DataError

__all__ = [
    "DEEPPCB_CLASSES",
    "NEU_CLASSES",
    "ConversionReport",
    "ImportProblem",
    "Issue",
    "convert_deeppcb",
    "convert_neu_det",
    "deeppcb_composite",
    "deeppcb_repaired_goods",
    "repair_defects",
]

DEEPPCB_CLASSES: tuple[str, ...] = ("open", "short", "mousebite", "spur", "spurious_copper", "pin_hole")
NEU_CLASSES: tuple[str, ...] = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")
Box = tuple[int, float, float, float, float]  # class id, x1, y1, x2, y2 in pixels


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in the source set."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class ImportProblem(DataError):
    """The source set has a corrupt image or label (raised in strict mode)."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(f"{issue} (fix the file, or import without strict to skip it)")
        self.issue = issue


@dataclass(slots=True)
class ConversionReport:
    """What an import wrote and what it left out."""

    dataset: str
    data_yaml: Path
    images: dict[str, int] = field(default_factory=dict)
    boxes: int = 0
    issues: list[Issue] = field(default_factory=list)

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.images.items())
        text = f"{self.dataset}: {counts} images, {self.boxes} boxes, {len(self.issues)} skipped with problems"
        return "\n".join([text, *(f"  {issue}" for issue in self.issues)])


@dataclass(frozen=True, slots=True)
class _Sample:
    image: Path  # the file to link or copy, or the DeepPCB test image when ``template`` is set
    template: Path | None
    size: tuple[int, int]
    boxes: list[Box]
    split: str


class _Collector:
    """Turns problems into an exception (strict) or a list (lenient)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.issues: list[Issue] = []

    def add(self, file: Path | str, line: int | None, message: str) -> None:
        issue = Issue(str(file), line, message)
        if self.strict:
            raise ImportProblem(issue)
        self.issues.append(issue)


# -- DeepPCB --------------------------------------------------------------------------------------------


def convert_deeppcb(
    root: Path,
    out_dir: Path,
    *,
    strict: bool = False,
    val_groups: Iterable[str] = ("77000",),
    test_groups: Iterable[str] = ("92000",),
    copy: bool = False,
    composite: bool = False,
) -> ConversionReport:
    """Import DeepPCB (``trainval.txt``, ``NNNN_test.jpg``, ``x1,y1,x2,y2,type`` labels).

    The split is by board group, so validation and test boards are never seen in training. With
    ``composite=True`` each image is written as ``deeppcb_composite(test, template)`` (golden-board
    comparison as an AOI machine does it) instead of linking the plain test image.
    """
    root, issues = Path(root), _Collector(strict)
    listing = root / "trainval.txt"
    if not listing.is_file():
        raise DataError(f"{listing}: not found; expected the DeepPCB folder with trainval.txt")
    val, test = set(val_groups), set(test_groups)
    samples = []
    for number, raw in enumerate(listing.read_text().splitlines(), start=1):
        if not raw.strip():
            continue
        sample = _deeppcb_sample(root, listing, number, raw, (val, test), composite, issues)
        if sample is not None:
            samples.append(sample)
    return _write(samples, Path(out_dir), "deeppcb", DEEPPCB_CLASSES, issues, copy, root)


def _deeppcb_sample(
    root: Path,
    listing: Path,
    number: int,
    raw: str,
    held_out: tuple[set[str], set[str]],
    composite: bool,
    issues: _Collector,
) -> _Sample | None:
    parts = raw.split()
    if len(parts) != 2:
        issues.add(listing, number, f"expected 'image label', got {raw!r}")
        return None
    image = root / "PCBData" / parts[0].replace(".jpg", "_test.jpg")
    label = root / "PCBData" / parts[1]
    size = _image_size(image, issues)
    if size is None:
        return None
    boxes = _deeppcb_boxes(label, size, issues)
    if boxes is None:
        return None
    group = parts[0].split("/")[0].removeprefix("group")
    val, test = held_out
    split = "test" if group in test else "val" if group in val else "train"
    template = image.with_name(image.name.replace("_test.jpg", "_temp.jpg")) if composite else None
    if template is not None and _image_size(template, issues) is None:
        return None
    return _Sample(image, template, size, boxes, split)


def _deeppcb_boxes(label: Path, size: tuple[int, int], issues: _Collector) -> list[Box] | None:
    if not label.is_file():
        issues.add(label, None, "label file missing")
        return None
    width, height = size
    boxes: list[Box] = []
    for number, raw in enumerate(label.read_text(errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        fields = [f for f in re.split(r"[,\s]+", raw.strip()) if f]
        try:
            x1, y1, x2, y2, kind = (int(float(f)) for f in fields)
        except ValueError:
            issues.add(label, number, f"expected 'x1,y1,x2,y2,type' integers, got {raw!r}")
            return None
        problem = _box_problem(x1, y1, x2, y2, width, height) or (
            None if 1 <= kind <= len(DEEPPCB_CLASSES) else f"type {kind} not in 1..{len(DEEPPCB_CLASSES)}"
        )
        if problem:
            issues.add(label, number, problem)
            return None
        boxes.append((kind - 1, float(x1), float(y1), float(x2), float(y2)))
    return boxes


def deeppcb_composite(test: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Three-channel input for reference comparison: B = inspected board, G = golden template,
    R = their absolute difference. Both inputs are aligned grayscale images of the same size."""
    if test.shape != template.shape or test.ndim != 2:
        raise ValueError(f"expected two grayscale images of one size, got {test.shape} and {template.shape}")
    return np.dstack([test, template, cv2.absdiff(test, template)])


def repair_defects(test: np.ndarray, template: np.ndarray, boxes: Iterable[Box], pad_px: int = 4) -> np.ndarray:
    """The inspected board with each labelled defect (box + ``pad_px``) replaced by the golden template.

    DeepPCB has no defect-free inspected boards. A repaired board is one: real camera image, real
    registration and binarisation noise everywhere except where a defect was, so a model's false rejects
    on it can be measured."""
    repaired = test.copy()
    height, width = test.shape[:2]
    for _, x1, y1, x2, y2 in boxes:
        ya, yb = max(0, int(y1) - pad_px), min(height, int(np.ceil(y2)) + pad_px)
        xa, xb = max(0, int(x1) - pad_px), min(width, int(np.ceil(x2)) + pad_px)
        repaired[ya:yb, xa:xb] = template[ya:yb, xa:xb]
    return repaired


def deeppcb_repaired_goods(
    root: Path, out_dir: Path, groups: Iterable[str] = ("92000",), split: str = "test"
) -> Path:
    """An evaluation set of golden-board composites: every board of ``groups`` as it is (defective, labelled)
    and repaired (good, no labels), so escape and false-reject rates come from the same boards."""
    issues = _Collector(strict=True)
    root, out = Path(root), Path(out_dir)
    listing = root / "trainval.txt"
    if not listing.is_file():
        raise DataError(f"{listing}: not found; expected the DeepPCB folder with trainval.txt")
    wanted = {f"group{g}" for g in groups}
    for sub in ("images", "labels"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub / split).mkdir(parents=True)
    count = 0
    for number, raw in enumerate(listing.read_text().splitlines(), start=1):
        if raw.split("/")[0] not in wanted:
            continue
        sample = _deeppcb_sample(root, listing, number, raw, (set(), set()), True, issues)
        assert sample is not None and sample.template is not None  # strict: a problem raised already
        test = cv2.imread(str(sample.image), cv2.IMREAD_GRAYSCALE)
        template = cv2.imread(str(sample.template), cv2.IMREAD_GRAYSCALE)
        stem = sample.image.stem
        cv2.imwrite(str(out / "images" / split / f"{stem}.png"), deeppcb_composite(test, template))
        lines = "".join(f"{_yolo_line(box, sample.size)}\n" for box in sample.boxes)
        (out / "labels" / split / f"{stem}.txt").write_text(lines)
        repaired = repair_defects(test, template, sample.boxes)
        cv2.imwrite(str(out / "images" / split / f"{stem}_repaired.png"), deeppcb_composite(repaired, template))
        (out / "labels" / split / f"{stem}_repaired.txt").write_text("")
        count += 1
    if count == 0:
        raise DataError(f"{listing}: no boards of groups {sorted(wanted)}")
    meta = {"path": str(out.resolve()), split: f"images/{split}", "names": dict(enumerate(DEEPPCB_CLASSES)),
            "source": {"dataset": "deeppcb-repaired-goods", "root": str(root.resolve()), "groups": sorted(wanted),
                       "boards": count}}
    (out / "data.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return out / "data.yaml"


# -- NEU-DET --------------------------------------------------------------------------------------------


def convert_neu_det(
    root: Path,
    out_dir: Path,
    *,
    strict: bool = False,
    val_percent: int = 15,
    test_percent: int = 15,
    copy: bool = False,
) -> ConversionReport:
    """Import NEU-DET (``images/CLASS_N.jpg`` with Pascal-VOC ``annotations/CLASS_N.xml``).

    The split is a stable hash of the file name, so it does not change when files are added.
    """
    root, issues = Path(root), _Collector(strict)
    images_dir, notes_dir = root / "images", root / "annotations"
    if not images_dir.is_dir() or not notes_dir.is_dir():
        raise DataError(f"{root}: expected NEU-DET folders images/ and annotations/")
    samples = []
    for image in sorted(images_dir.glob("*.jpg")):
        size = _image_size(image, issues)
        boxes = _voc_boxes(notes_dir / f"{image.stem}.xml", size, issues) if size else None
        if boxes is None or size is None:
            continue
        bucket = zlib.crc32(image.stem.encode()) % 100
        split = "test" if bucket < test_percent else "val" if bucket < test_percent + val_percent else "train"
        samples.append(_Sample(image, None, size, boxes, split))
    return _write(samples, Path(out_dir), "neu-det", NEU_CLASSES, issues, copy, root)


def _voc_boxes(xml_path: Path, size: tuple[int, int], issues: _Collector) -> list[Box] | None:
    if not xml_path.is_file():
        issues.add(xml_path, None, "annotation file missing")
        return None
    text = xml_path.read_text(errors="replace")
    try:
        tree = ET.fromstring(text)
    except ET.ParseError as exc:
        issues.add(xml_path, exc.position[0], f"not valid XML: {exc}")
        return None
    width, height = size
    boxes: list[Box] = []
    for nth, obj in enumerate(tree.iter("object")):
        line = _line_of(text, "<object>", nth)
        name = (obj.findtext("name") or "").strip()
        if name not in NEU_CLASSES:
            issues.add(xml_path, line, f"unknown class {name!r}; expected one of {NEU_CLASSES}")
            return None
        try:
            x1, y1, x2, y2 = (float(obj.findtext(f"bndbox/{k}") or "") for k in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError:
            issues.add(xml_path, line, "bndbox needs numeric xmin, ymin, xmax, ymax")
            return None
        problem = _box_problem(x1, y1, x2, y2, width, height)
        if problem:
            issues.add(xml_path, line, problem)
            return None
        boxes.append((NEU_CLASSES.index(name), x1, y1, x2, y2))
    return boxes


def _line_of(text: str, tag: str, nth: int) -> int | None:
    start = -1
    for _ in range(nth + 1):
        start = text.find(tag, start + 1)
        if start < 0:
            return None
    return text.count("\n", 0, start) + 1


# -- shared ---------------------------------------------------------------------------------------------


def _image_size(image: Path, issues: _Collector) -> tuple[int, int] | None:
    if not image.is_file():
        issues.add(image, None, "image file missing")
        return None
    pixels = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        issues.add(image, None, "image cannot be decoded (corrupt or not an image)")
        return None
    return int(pixels.shape[1]), int(pixels.shape[0])


def _box_problem(x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> str | None:
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        return f"box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) is empty or outside the {width}x{height} image"
    return None


def _write(
    samples: list[_Sample],
    out: Path,
    dataset: str,
    classes: tuple[str, ...],
    issues: _Collector,
    copy: bool,
    root: Path,
) -> ConversionReport:
    for sub in ("images", "labels"):
        shutil.rmtree(out / sub, ignore_errors=True)
    report = ConversionReport(dataset, out / "data.yaml", issues=issues.issues)
    digest = hashlib.sha256()
    for sample in samples:
        _place_image(sample, out, copy)
        lines = [_yolo_line(box, sample.size) for box in sample.boxes]
        label = out / "labels" / sample.split / f"{sample.image.stem}.txt"
        label.write_text("".join(f"{line}\n" for line in lines))
        digest.update(sample.image.name.encode() + "".join(lines).encode())
        report.images[sample.split] = report.images.get(sample.split, 0) + 1
        report.boxes += len(sample.boxes)
    _write_yaml(report, out, dataset, classes, digest.hexdigest()[:12], root)
    return report


def _place_image(sample: _Sample, out: Path, copy: bool) -> None:
    target_dir = out / "images" / sample.split
    (out / "labels" / sample.split).mkdir(parents=True, exist_ok=True)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / sample.image.name
    if sample.template is not None:
        test = cv2.imread(str(sample.image), cv2.IMREAD_GRAYSCALE)
        template = cv2.imread(str(sample.template), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(target.with_suffix(".png")), deeppcb_composite(test, template))
    elif copy:
        shutil.copyfile(sample.image, target)
    else:
        os.symlink(sample.image.resolve(), target)


def _yolo_line(box: Box, size: tuple[int, int]) -> str:
    class_id, x1, y1, x2, y2 = box
    width, height = size
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    return f"{class_id} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"


def _write_yaml(
    report: ConversionReport, out: Path, dataset: str, classes: tuple[str, ...], version: str, root: Path
) -> None:
    data = {
        "path": str(out.resolve()),
        **{split: f"images/{split}" for split in ("train", "val", "test") if split in report.images},
        "names": dict(enumerate(classes)),
        "source": {
            "dataset": dataset,
            "root": str(Path(root).resolve()),
            "data_version": version,
            "images": dict(report.images),
            "boxes": report.boxes,
            "skipped": [str(issue) for issue in report.issues],
        },
    }
    report.data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
