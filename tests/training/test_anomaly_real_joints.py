"""The good-only anomaly model on real images of different sizes: normal solder-joint crops (12–70 px, several
aspect ratios) from ../shared/data, default settings. The defect crops are larger than the normal ones, so size
alone would separate them; the check compares against small, squarish shorts where it does not."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from inspection.anomaly import AnomalyRuntime
from training.anomaly import FitConfig, auroc, evaluate, fit_anomaly, read_image

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

JOINTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "solder-joints"


def _like_normal(image: np.ndarray) -> bool:
    """Within the normal crops' size and shape: long side ≤ 48 px, at most 2:1."""
    long, short = max(image.shape[:2]), min(image.shape[:2])
    return long <= 48 and long <= 2 * short


@pytest.fixture(scope="module")
def joints() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    if not (JOINTS / "normal").is_dir():
        pytest.skip(f"no real solder-joint crops at {JOINTS}")
    normal = sorted((JOINTS / "normal").iterdir())
    random.Random(0).shuffle(normal)
    good = [read_image(p) for p in normal[:140]]
    shorts = [read_image(p) for p in sorted((JOINTS / "short").iterdir())]
    small_shorts = [s for s in shorts if _like_normal(s)][:40]
    return good[:100], good[100:], small_shorts


def test_default_fit_on_mixed_size_real_crops_finds_shorts_that_size_does_not(
        joints: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]], tmp_path: Path) -> None:
    fit_good, held_good, bad = joints
    assert len({g.shape[:2] for g in fit_good}) > 10 and len(bad) >= 30  # really mixed sizes; enough shorts
    torch.set_num_threads(1)
    report = fit_anomaly(fit_good, FitConfig())  # the defaults an engineer gets
    assert report.model.meta.image_shape == (0, 0)  # any size
    report.model.save(tmp_path / "joints.npz")
    result = evaluate(AnomalyRuntime(tmp_path / "joints.npz"), held_good, bad)
    size_only = auroc(np.array([max(g.shape[:2]) for g in held_good], float),
                      np.array([max(b.shape[:2]) for b in bad], float))
    print(f"image AUROC {result.auroc:.3f} (size alone {size_only:.3f}), escape {result.escape_rate:.2f}, "
          f"false reject {result.false_reject_rate:.2f}, {result.ms_per_image:.0f} ms/image")
    assert result.auroc >= 0.85 and result.auroc > size_only + 0.03
