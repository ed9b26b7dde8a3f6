"""Training data sliced into the recipe's tiles (issue 19: when a recipe tiles, training slices the same way)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from inspection.cli import station
from inspection.domain.tiling import TilingOptions, tile_windows
from training.slicing import clip_polygon, slice_dataset, slice_labels

TILING = TilingOptions(tile_px=100, overlap_px=20)  # on 200×120: x starts 0, 80, 100; y starts 0, 20


def _yolo_box(x0: float, y0: float, x1: float, y1: float, w: int = 200, h: int = 120) -> str:
    return f"0 {(x0 + x1) / 2 / w} {(y0 + y1) / 2 / h} {(x1 - x0) / w} {(y1 - y0) / h}"


def _dataset(root: Path, labels: list[str]) -> Path:
    for split in ("train", "val", "test"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        image = np.random.default_rng(len(split)).integers(0, 255, (120, 200, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / split / "board.png"), image)
        (root / "labels" / split / "board.txt").write_text("\n".join(labels) + "\n")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val",
                                    "test": "images/test", "names": {0: "scratch", 1: "run"}}))
    return data


def _boxes(line_list: list[str], tile: int = 100) -> list[tuple[float, ...]]:
    out = []
    for line in line_list:
        _, cx, cy, w, h = (float(v) for v in line.split())
        out.append(tuple(round(v * tile, 3) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
    return out


def test_a_box_follows_its_tile_and_a_sliver_is_dropped() -> None:
    box = _yolo_box(10, 10, 40, 30)  # inside the first tile only
    edge = _yolo_box(90, 50, 110, 60)  # crosses x = 100: half in tile x0 = 0, all in tile x0 = 80
    kept, dropped = slice_labels([box, edge], 200, 120, (0, 0, 100, 100), 0.5)
    assert _boxes(kept) == [(10.0, 10.0, 40.0, 30.0), (90.0, 50.0, 100.0, 60.0)] and dropped == 0
    kept, dropped = slice_labels([box, edge], 200, 120, (80, 0, 180, 100), 0.5)
    assert _boxes(kept) == [(10.0, 50.0, 30.0, 60.0)] and dropped == 0
    kept, dropped = slice_labels([edge], 200, 120, (0, 0, 100, 100), 0.6)  # 50 % inside < 60 %
    assert kept == [] and dropped == 1


def test_polygons_are_clipped_to_the_window() -> None:
    square = np.array([[90, 10], [110, 10], [110, 30], [90, 30]], dtype=float)
    clipped, share = clip_polygon(square, (0, 0, 100, 100))
    assert share == pytest.approx(0.5) and clipped[:, 0].max() == pytest.approx(100.0)
    concave = np.array([[0, 0], [60, 0], [60, 60], [40, 60], [40, 20], [20, 20], [20, 60], [0, 60]], dtype=float)
    _, share = clip_polygon(concave, (0, 0, 100, 40))  # a U cut across its legs
    assert share == pytest.approx((60 * 20 + 2 * 20 * 20) / (60 * 60 - 20 * 40))
    line = "1 " + " ".join(f"{v:.4f}" for v in (square / (200, 120)).ravel())
    kept, _ = slice_labels([line], 200, 120, (80, 0, 180, 100), 0.5)
    assert len(kept) == 1 and kept[0].startswith("1 ") and len(kept[0].split()) >= 7


def test_slice_dataset_writes_the_recipes_windows_with_their_pixels(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "src", [_yolo_box(90, 50, 110, 60)])
    report = slice_dataset(data, tmp_path / "tiles", TILING, progress=False)
    windows = tile_windows(120, 200, TILING)
    assert report.tiles == {"train": len(windows), "val": len(windows)} == {"train": 6, "val": 6}
    source = cv2.imread(str(tmp_path / "src" / "images" / "train" / "board.png"))
    for x0, y0, x1, y1 in windows:
        tile = cv2.imread(str(tmp_path / "tiles" / "images" / "train" / f"board__x{x0}_y{y0}.png"))
        assert np.array_equal(tile, source[y0:y1, x0:x1])
    # the defect at x 90-110, y 50-60 is in every tile that shows at least half of it (x0 = 0 shows half)
    with_defect = sorted(p.stem for p in (tmp_path / "tiles" / "labels" / "train").glob("*.txt") if p.read_text())
    assert with_defect == ["board__x0_y0", "board__x0_y20", "board__x100_y0", "board__x100_y20",
                           "board__x80_y0", "board__x80_y20"]
    sliced = yaml.safe_load(report.data_yaml.read_text())
    assert sliced["names"] == {0: "scratch", 1: "run"} and sliced["slicing"]["tile_px"] == 100
    assert Path(sliced["test"]) == tmp_path / "src" / "images" / "test"  # whole frames for the tiled eval


def test_station_dataset_slice_takes_the_recipes_tiling(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "src", [_yolo_box(10, 10, 40, 30)])
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: tiled\nproduct: board\nmodel: m.pt\n"
                      "tiling: {tile_px: 100, overlap_px: 20}\n")
    result = CliRunner().invoke(station, ["dataset", "slice", "--data", str(data), "-o", str(tmp_path / "t"),
                                          "--recipe", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "train: 1 images -> 6 tiles of 100 px" in result.output and "--imgsz 100" in result.output
    untiled = tmp_path / "plain.yaml"
    untiled.write_text("name: plain\nproduct: board\nmodel: m.pt\n")
    result = CliRunner().invoke(station, ["dataset", "slice", "--data", str(data), "-o", str(tmp_path / "u"),
                                          "--recipe", str(untiled)])
    assert result.exit_code == 2 and "has no tiling: section" in result.output
    result = CliRunner().invoke(station, ["dataset", "slice", "--data", str(data), "-o", str(tmp_path / "v"),
                                          "--tile-px", "64", "--overlap-px", "64"])
    assert result.exit_code == 2 and "must be smaller than tile_px" in result.output
