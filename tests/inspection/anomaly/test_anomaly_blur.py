"""The anomaly map's Gaussian blur runs as two 1-D passes (speed) and equals the 2-D blur it replaced."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inspection.anomaly.model import load_npz_model, preprocess
from inspection.anomaly.network import _gaussian_kernel, scorer_for
from inspection.anomaly.runtime import AnomalyRuntime
from inspection.anomaly.testing import surface
from inspection.demo import DEMO_DIR


def test_separable_blur_equals_the_two_dimensional_gaussian() -> None:
    k = _gaussian_kernel(4.0)
    assert k.shape == (1, 1, 1, 25) and float(k.sum()) == pytest.approx(1.0)
    amap = torch.from_numpy(np.random.default_rng(0).random((1, 1, 64, 64), dtype=np.float32))
    r = k.shape[-1] // 2
    padded = F.pad(amap, (r, r, r, r), mode="replicate")
    two_d = F.conv2d(padded, k.transpose(-1, -2) @ k)  # the K×K kernel of before
    separable = F.conv2d(F.conv2d(padded, k), k.transpose(-1, -2))
    torch.testing.assert_close(separable, two_d, rtol=1e-5, atol=1e-6)


def test_the_shipped_onnx_export_made_with_the_2d_blur_still_agrees() -> None:
    npz = DEMO_DIR / "models" / "paint_anomaly.npz"
    model = load_npz_model(npz)
    image = surface(5, model.meta.image_shape, mono=False)
    with torch.inference_mode():
        _, score = scorer_for(model)(torch.from_numpy(preprocess(image, model.meta)))
    exported = AnomalyRuntime(npz.with_suffix(".onnx"), threads=1).analyse(image).score
    assert float(score[0]) == pytest.approx(exported, rel=1e-4)
