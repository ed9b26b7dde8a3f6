"""`station anomaly fit / eval / export` through the real `station` command group."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from inspection.anomaly.testing import surface, write_images
from inspection.cli import station

SIZE = (64, 64)


def _run(*args: str) -> object:
    return CliRunner().invoke(station, ["anomaly", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    write_images(root / "train", [surface(i, SIZE) for i in range(10)])
    write_images(root / "good", [surface(100 + i, SIZE) for i in range(4)])
    write_images(root / "bad", [surface(200 + i, SIZE, defect=True) for i in range(4)])
    result = _run("fit", "--good", str(root / "train"), "--out", str(root / "m.npz"), "--imgsz", "64",
                  "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "threshold" in result.output and "held out" in result.output
    return root


def test_eval_prints_auroc_escape_and_false_reject_table(fitted: Path) -> None:
    result = _run("eval", "--model", str(fitted / "m.npz"), "--good", str(fitted / "good"),
                  "--bad", str(fitted / "bad"), "--threads", "1")
    assert result.exit_code == 0, result.output
    auroc = re.search(r"image AUROC\s+([0-9.]+)", result.output)
    assert auroc and float(auroc.group(1)) > 0.9
    assert re.search(r"escape rate\s+[0-9.]+%", result.output)
    assert re.search(r"false-reject rate\s+[0-9.]+%", result.output)
    assert "4 good, 4 bad" in result.output


def test_eval_with_masks_adds_pixel_auroc(fitted: Path, tmp_path: Path) -> None:
    spots = [(20 + 6 * i, 30) for i in range(3)]
    bad = write_images(tmp_path / "bad", [surface(400 + i, SIZE, defect=True, at=at) for i, at in enumerate(spots)])
    masks = []
    for x, y in spots:
        mask = np.zeros(SIZE, np.uint8)
        cv2.circle(mask, (x, y), 6, 255, -1)
        masks.append(mask)
    mask_dir = write_images(tmp_path / "masks", masks)
    result = _run("eval", "--model", str(fitted / "m.npz"), "--good", str(fitted / "good"), "--bad", str(bad),
                  "--masks", str(mask_dir), "--threads", "1")
    assert result.exit_code == 0, result.output
    pixel = re.search(r"pixel AUROC\s+([0-9.]+)", result.output)
    assert pixel and float(pixel.group(1)) > 0.9
    (mask_dir / "001.png").unlink()
    missing = CliRunner().invoke(station, ["anomaly", "eval", "--model", str(fitted / "m.npz"), "--good",
                                           str(fitted / "good"), "--bad", str(bad), "--masks", str(mask_dir)])
    assert missing.exit_code == 7 and "001.png: no defect mask named 001.*" in missing.output


def test_eval_with_images_of_another_size_names_the_mismatch(fitted: Path, tmp_path: Path) -> None:
    big = write_images(tmp_path / "big", [surface(i, (128, 128)) for i in range(2)])
    result = CliRunner().invoke(station, ["anomaly", "eval", "--model", str(fitted / "m.npz"), "--good", str(big),
                                          "--bad", str(fitted / "bad")])
    assert result.exit_code == 7  # DataError
    assert "128×128 px" in result.output and "fitted on 64×64" in result.output


def test_fit_on_mixed_sizes_takes_any_size_and_evaluates(fitted: Path, tmp_path: Path) -> None:
    sizes = [(48, 48), (64, 64), (80, 80), (64, 96), (96, 72)]
    good = write_images(tmp_path / "train", [surface(i, sizes[i % len(sizes)]) for i in range(10)])
    result = _run("fit", "--good", str(good), "--out", str(tmp_path / "m.npz"), "--imgsz", "64", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "any size (resized to 64×64)" in result.output and "3 aspect ratios" in result.output
    big = write_images(tmp_path / "big", [surface(300 + i, (128, 96)) for i in range(3)])  # a size not in the fit
    result = _run("eval", "--model", str(tmp_path / "m.npz"), "--good", str(big), "--bad", str(fitted / "bad"))
    assert result.exit_code == 0, result.output
    auroc = re.search(r"image AUROC\s+([0-9.]+)", result.output)
    assert auroc and float(auroc.group(1)) > 0.9
    fixed = _run("fit", "--good", str(good), "--out", str(tmp_path / "f.npz"), "--imgsz", "64", "--fixed-size")
    assert fixed.exit_code == 7 and "one size and channel count" in fixed.output


def test_fit_with_too_few_images_fails_cleanly(tmp_path: Path) -> None:
    good = write_images(tmp_path / "few", [surface(i, SIZE) for i in range(3)])
    result = CliRunner().invoke(station, ["anomaly", "fit", "--good", str(good), "--out", str(tmp_path / "m.npz")])
    assert result.exit_code == 7
    assert "need at least" in result.output
    assert not (tmp_path / "m.npz").exists()


def test_fit_with_bad_imgsz_fails_cleanly(fitted: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(station, ["anomaly", "fit", "--good", str(fitted / "train"), "--out",
                                          str(tmp_path / "m.npz"), "--imgsz", "100"])
    assert result.exit_code == 7 and "multiple of 32" in result.output


@pytest.mark.slow
def test_export_onnx_checks_itself_and_evaluates_the_same(fitted: Path) -> None:
    result = _run("export", "--model", str(fitted / "m.npz"), "--format", "onnx")
    assert result.exit_code == 0, result.output
    assert (fitted / "m.onnx").is_file() and "score check" in result.output
    outputs = [_run("eval", "--model", str(fitted / name), "--good", str(fitted / "good"), "--bad",
                    str(fitted / "bad"), "--threads", "1").output for name in ("m.npz", "m.onnx")]
    rows = [re.findall(r"(?:image AUROC|escape rate|false-reject rate)\s+\S+", out) for out in outputs]
    assert rows[0] == rows[1] and len(rows[0]) == 3


@pytest.mark.parametrize(("layers", "code", "message"), [("x", 7, "--layers: expected block numbers"),
                                                          ("99", 3, "out of range")])
def test_fit_with_bad_layers_fails_cleanly(fitted: Path, tmp_path: Path, layers: str, code: int, message: str) -> None:
    result = CliRunner().invoke(station, ["anomaly", "fit", "--good", str(fitted / "train"), "--out",
                                          str(tmp_path / "m.npz"), "--imgsz", "64", "--layers", layers])
    assert result.exit_code == code and message in result.output
