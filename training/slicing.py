"""Slice a YOLO data set into the tiles a tiling recipe inspects, so training sees what the line sees.

A recipe with `tiling:` runs the model on `tile_px` windows of the frame (`inspection.domain.tiling`), each
resized to the model's input size. A model trained on whole frames resized to that size sees its defects
several times smaller than it will at run time, and misses the small ones. `slice_dataset` cuts every
training and validation image into exactly the recipe's windows (same tile size, overlap and edge rule)
and carries the labels along:

- boxes are clipped to the window and kept when at least `min_visible` of their area lies inside it
  (a defect cut by a tile edge is learnt from the tile that shows most of it, not from a sliver);
- polygons (segmentation labels) are clipped to the window (Sutherland-Hodgman: the window is convex),
  with the same visible-area rule;
- tiles without defects are kept as background (the line sees them too).

The test split is not sliced: evaluation goes through the station's own tiled detector on whole frames
(`station eval`), as the line runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from inspection.domain.images import IMAGE_SUFFIXES
from inspection.domain.tiling import TilingOptions, tile_windows
from inspection.security.inputs import load_yaml_text

__all__ = ["SliceReport", "clip_box", "clip_polygon", "slice_dataset", "slice_labels"]

Window = tuple[int, int, int, int]


@dataclass(frozen=True)
class SliceReport:
    data_yaml: Path
    images: dict[str, int]  # split -> source images
    tiles: dict[str, int]  # split -> tiles written
    objects: dict[str, int]  # split -> labels kept in tiles
    dropped: dict[str, int]  # split -> label pieces dropped (less than min_visible inside a tile)


def clip_box(box: np.ndarray, window: Window) -> tuple[np.ndarray, float]:
    """`box` (x1, y1, x2, y2, pixels) clipped to `window`; second value: the share of its area inside."""
    x0, y0, x1, y1 = window
    clipped = np.array([max(box[0], x0), max(box[1], y0), min(box[2], x1), min(box[3], y1)], dtype=np.float64)
    area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    inside = max(clipped[2] - clipped[0], 0.0) * max(clipped[3] - clipped[1], 0.0)
    return clipped, (inside / area if area > 0 else 0.0)


def _polygon_area(points: np.ndarray) -> float:
    if len(points) < 3:
        return 0.0
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def clip_polygon(points: np.ndarray, window: Window) -> tuple[np.ndarray, float]:
    """Polygon (N×2, pixels) clipped to the rectangular `window`; second value: the share of its area inside."""
    x0, y0, x1, y1 = window
    edges = ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False))  # (axis, bound, keep >= bound)
    out = [tuple(p) for p in points.astype(np.float64)]
    for axis, bound, keep_above in edges:
        if not out:
            break
        src, out = out, []
        for i, current in enumerate(src):
            previous = src[i - 1]
            cur_in = current[axis] >= bound if keep_above else current[axis] <= bound
            prev_in = previous[axis] >= bound if keep_above else previous[axis] <= bound
            if cur_in != prev_in:  # the edge crosses the bound: add the crossing point
                t = (bound - previous[axis]) / (current[axis] - previous[axis])
                out.append(tuple(previous[k] + t * (current[k] - previous[k]) for k in range(2)))
            if cur_in:
                out.append(current)
    clipped = np.array(out, dtype=np.float64).reshape(-1, 2)
    area = _polygon_area(points.astype(np.float64))
    return clipped, (_polygon_area(clipped) / area if area > 0 else 0.0)


def slice_labels(lines: list[str], width: int, height: int, window: Window,
                 min_visible: float) -> tuple[list[str], int]:
    """YOLO label lines of a `width`×`height` image → the lines of one window's tile, and how many were dropped.

    Detection lines (`cls cx cy w h`) and segmentation lines (`cls x1 y1 x2 y2 …`) are both understood."""
    x0, y0, x1, y1 = window
    tw, th = x1 - x0, y1 - y0
    kept: list[str] = []
    dropped = 0
    for line in lines:
        values = line.split()
        if len(values) < 5:
            continue
        cls, numbers = values[0], np.array([float(v) for v in values[1:]])
        if len(numbers) == 4:  # a box
            cx, cy, w, h = numbers * (width, height, width, height)
            box, share = clip_box(np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]), window)
            if share <= 0.0:
                continue
            if share < min_visible:
                dropped += 1
                continue
            bx0, by0, bx1, by1 = box - (x0, y0, x0, y0)
            kept.append(f"{cls} {(bx0 + bx1) / 2 / tw:.6f} {(by0 + by1) / 2 / th:.6f} "
                        f"{(bx1 - bx0) / tw:.6f} {(by1 - by0) / th:.6f}")
        else:  # a polygon
            points = numbers[: len(numbers) // 2 * 2].reshape(-1, 2) * (width, height)
            polygon, share = clip_polygon(points, window)
            if share <= 0.0 or len(polygon) < 3:
                continue
            if share < min_visible:
                dropped += 1
                continue
            local = (polygon - (x0, y0)) / (tw, th)
            kept.append(cls + " " + " ".join(f"{v:.6f}" for v in np.clip(local, 0.0, 1.0).ravel()))
    return kept, dropped


def _label_path(image: Path) -> Path:
    """Where ultralytics looks for the image's labels (its own rule, so training reads what we read)."""
    from ultralytics.data.utils import img2label_paths

    return Path(img2label_paths([str(image)])[0])


def _split_images(root: Path, entry: str | list[str]) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    images: list[Path] = []
    for item in entries:
        path = Path(item) if Path(item).is_absolute() else root / item
        if path.is_dir():
            images += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.suffix == ".txt":
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    p = Path(line.strip())
                    images.append(p if p.is_absolute() else (path.parent / p).resolve())
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            raise FileNotFoundError(f"split entry {item!r} ({path}) is not an image folder, a list file or an image")
    return images


def _tiles(image: np.ndarray, labels: list[str], tiling: TilingOptions,
           min_visible: float) -> Iterator[tuple[Window, np.ndarray, list[str], int]]:
    height, width = image.shape[:2]
    whole_frame = tiling.model_copy(update={"include_full": False})  # training sees the tiles only
    for window in tile_windows(height, width, whole_frame):
        x0, y0, x1, y1 = window
        kept, dropped = slice_labels(labels, width, height, window, min_visible)
        yield window, image[y0:y1, x0:x1], kept, dropped


def slice_dataset(data_yaml: Path, out_dir: Path, tiling: TilingOptions, *, min_visible: float = 0.5,
                  splits: tuple[str, ...] = ("train", "val"), progress: bool = True) -> SliceReport:
    """Write the tiles of `splits` under `out_dir` (images/<split>, labels/<split>) and a data.yaml that
    keeps the source's class names and points `test` at the source's whole-frame test split."""
    from training.progress import track

    if not 0.0 < min_visible <= 1.0:
        raise ValueError(f"min_visible must be in (0, 1], got {min_visible}")
    data = load_yaml_text(data_yaml.read_text(encoding="utf-8")) or {}
    if "names" not in data or "train" not in data:
        raise ValueError(f"{data_yaml}: not a YOLO data set (needs names and train)")
    root = Path(data.get("path") or data_yaml.parent)
    root = root if root.is_absolute() else (data_yaml.parent / root).resolve()
    out_dir = out_dir.resolve()
    images_n, tiles_n, objects_n, dropped_n = {}, {}, {}, {}
    for split in splits:
        if split not in data:
            continue
        sources = _split_images(root, data[split])
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
        tiles = objects = dropped = 0
        for source in (track(sources, f"slicing {split}", len(sources)) if progress else sources):
            image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise ValueError(f"{source}: not a readable image")
            label_file = _label_path(source)
            labels = label_file.read_text(encoding="utf-8").splitlines() if label_file.is_file() else []
            for (x0, y0, _, _), tile, kept, lost in _tiles(image, labels, tiling, min_visible):
                name = f"{source.stem}__x{x0}_y{y0}"
                cv2.imwrite(str(out_dir / "images" / split / f"{name}.png"), tile)  # lossless: no new artefacts
                (out_dir / "labels" / split / f"{name}.txt").write_text("\n".join(kept) + ("\n" if kept else ""),
                                                                       encoding="utf-8")
                tiles, objects, dropped = tiles + 1, objects + len(kept), dropped + lost
        images_n[split], tiles_n[split], objects_n[split], dropped_n[split] = len(sources), tiles, objects, dropped
    sliced = {"path": str(out_dir), "names": data["names"],
              **{split: f"images/{split}" for split in tiles_n},
              "slicing": {"source": str(data_yaml.resolve()), "tile_px": tiling.tile_px,
                          "overlap_px": tiling.overlap_px, "min_visible": min_visible}}
    if "test" in data and "test" not in tiles_n:  # whole frames: evaluated through the tiled detector
        test = data["test"]
        sliced["test"] = test if isinstance(test, list) else str(
            Path(test) if Path(test).is_absolute() else root / test)
    out_yaml = out_dir / "data.yaml"
    out_yaml.write_text(yaml.safe_dump(sliced, sort_keys=False), encoding="utf-8")
    (out_dir / "slicing.json").write_text(json.dumps({"images": images_n, "tiles": tiles_n, "objects": objects_n,
                                                      "dropped": dropped_n}, indent=2), encoding="utf-8")
    return SliceReport(out_yaml, images_n, tiles_n, objects_n, dropped_n)
