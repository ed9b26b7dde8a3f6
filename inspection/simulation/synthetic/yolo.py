"""Write generated parts as an ultralytics YOLO data set (detection boxes or segmentation polygons)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import yaml

from inspection.simulation.synthetic._base import PartGenerator, SyntheticPart
from inspection.simulation.synthetic.paint import PaintGenerator
from inspection.simulation.synthetic.solder import SolderGenerator

__all__ = ["Task", "generator_for", "write_yolo_dataset", "yolo_label_lines"]

Task = Literal["detect", "segment"]
_GENERATORS: dict[str, type[PartGenerator]] = {"solder": SolderGenerator, "paint": PaintGenerator}


def generator_for(product: str, seed: int = 0, imgsz: int = 320, pixel_format: str = "bgr8") -> PartGenerator:
    """The generator of a product by name ("solder" or "paint")."""
    try:
        cls = _GENERATORS[product]
    except KeyError:
        raise ValueError(f"product: expected one of {sorted(_GENERATORS)}, got {product!r}") from None
    return cls(seed=seed, size=(imgsz, imgsz), pixel_format=pixel_format)  # type: ignore[arg-type]


def yolo_label_lines(part: SyntheticPart, task: Task = "detect") -> list[str]:
    """YOLO label lines of a part, coordinates normalised to 0..1 (empty for a good part)."""
    h, w = part.image.shape[:2]
    scale = np.array([w, h], np.float64)
    lines = []
    for d in part.defects:
        if task == "segment":
            pts = np.clip(np.asarray(d.polygon, np.float64) / scale, 0.0, 1.0)
            lines.append(f"{d.class_id} " + " ".join(f"{v:.6f}" for v in pts.reshape(-1)))
        else:
            x1, y1, x2, y2 = d.box
            cx, cy = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h
            bw, bh = (x2 - x1) / w, (y2 - y1) / h
            lines.append(f"{d.class_id} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
    return lines


def write_yolo_dataset(
    gen: PartGenerator,
    out_dir: str | Path,
    n_train: int,
    n_val: int,
    task: Task = "detect",
    n_test: int = 0,
    defect_probabilities: Mapping[str, float] | None = None,
    image_ext: str = ".png",
) -> Path:
    """Render ``n_train``/``n_val``/``n_test`` parts (disjoint indices) and return the data.yaml path."""
    if task not in ("detect", "segment"):
        raise ValueError(f"task: expected 'detect' or 'segment', got {task!r}")
    out = Path(out_dir)
    splits = {"train": range(0, n_train), "val": range(n_train, n_train + n_val)}
    if n_test:
        splits["test"] = range(n_train + n_val, n_train + n_val + n_test)
    counts: dict[str, dict[str, int]] = {}
    for split, indices in splits.items():
        counts[split] = _write_split(gen, out, split, indices, task, defect_probabilities, image_ext)
    return _write_yaml(gen, out, splits, task, counts, defect_probabilities)


def _write_split(
    gen: PartGenerator,
    out: Path,
    split: str,
    indices: range,
    task: Task,
    probs: Mapping[str, float] | None,
    image_ext: str,
) -> dict[str, int]:
    img_dir, lbl_dir = out / "images" / split, out / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(("good", *gen.classes), 0)
    for index in indices:
        part = gen.part(index, probs)
        name = f"{gen.product}_{index:06d}"
        if not cv2.imwrite(str(img_dir / f"{name}{image_ext}"), part.image):
            raise OSError(f"could not write {img_dir / name}{image_ext}")
        lines = yolo_label_lines(part, task)
        (lbl_dir / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
        counts["good"] += part.is_good
        for d in part.defects:
            counts[d.class_name] += 1
    return counts


def _write_yaml(
    gen: PartGenerator,
    out: Path,
    splits: Mapping[str, range],
    task: Task,
    counts: Mapping[str, Mapping[str, int]],
    probs: Mapping[str, float] | None,
) -> Path:
    data = {
        "path": str(out.resolve()),
        **{split: f"images/{split}" for split in splits},
        "names": dict(enumerate(gen.classes)),
        "task": task,
        "source": {
            "generator": type(gen).__name__,
            "product": gen.product,
            "seed": gen.seed,
            "size": list(gen.size),
            "pixel_format": gen.pixel_format,
            "data_version": gen.data_version,
            "defect_probabilities": dict(probs) if probs else None,
            "indices": {split: [r.start, r.stop] for split, r in splits.items()},
            "counts": {split: dict(c) for split, c in counts.items()},
        },
    }
    path = out / "data.yaml"
    plain = json.loads(json.dumps(data))  # tuples to lists, numpy scalars fail loudly
    plain["names"] = dict(enumerate(gen.classes))
    path.write_text(yaml.safe_dump(plain, sort_keys=False))
    return path
