"""The detector on the ImageNet EfficientNet-Lite0 trunk: the trunk computes what the original network does, the
file is a plain ultralytics checkpoint, and training starts from the ImageNet weights (not from random ones)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inspection.anomaly.network import backbone_weights
from inspection.inference.model_files import check_model_file, unsafe_globals
from training.backbones import build_pretrained_detector, lite0_detector_yaml


@pytest.fixture(scope="module")
def lite0_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pretrained_detector(3, tmp_path_factory.mktemp("lite0") / "start.pt", ["a", "b", "c"])


def _trunk_output(model: torch.nn.Module, x: torch.Tensor, last: int) -> torch.Tensor:
    outputs: list[torch.Tensor] = []
    for layer in model.model[: last + 1]:
        if layer.f != -1:
            x = outputs[layer.f] if isinstance(layer.f, int) else [x if j == -1 else outputs[j] for j in layer.f]
        x = layer(x)
        outputs.append(x)
    return x


def test_trunk_classifies_an_image_like_the_original_network(lite0_detector: Path) -> None:
    """Original head on our trunk's last features: the same top-5 ImageNet classes as the original network."""
    import ultralytics
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(backbone_weights(
        "efficientnet-lite0"))).eval()
    model = torch.load(lite0_detector, map_location="cpu", weights_only=False)["model"].float().eval()
    bus = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))[:, :, ::-1]
    rgb = cv2.resize(bus, (224, 224)).astype(np.float32)
    as_ultralytics_feeds = torch.from_numpy(rgb / 255.0).permute(2, 0, 1)[None]
    as_trained = torch.from_numpy((rgb - 127.0) / 128.0).permute(2, 0, 1)[None]
    p5 = len(lite0_detector_yaml(3)["backbone"]) - 2  # the layer before SPPF
    with torch.no_grad():
        expected = reference(as_trained).softmax(1)
        features = _trunk_output(model, as_ultralytics_feeds, p5)
        head = reference._swish(reference._bn1(reference._conv_head(features)))
        ours = reference._fc(head.mean((2, 3))).softmax(1)
    assert features.shape[1] == 320
    assert ours.topk(5).indices.tolist() == expected.topk(5).indices.tolist()
    assert abs(float(ours.max() - expected.max())) < 0.1
    # …and a random trunk does not: the check can fail
    torch.nn.init.normal_(model.model[1].conv.weight)
    with torch.no_grad():
        head = reference._swish(reference._bn1(reference._conv_head(_trunk_output(model, as_ultralytics_feeds, p5))))
        scrambled = reference._fc(head.mean((2, 3))).softmax(1)
    assert scrambled.topk(5).indices.tolist() != expected.topk(5).indices.tolist()


def test_the_file_is_a_plain_ultralytics_checkpoint(lite0_detector: Path) -> None:
    """Only torch/ultralytics classes in the pickle: `YOLO(path)` and `yolo val` need nothing of this project."""
    from ultralytics import YOLO

    assert unsafe_globals(lite0_detector) == []
    check_model_file(lite0_detector)
    model = YOLO(str(lite0_detector))
    assert model.names == {0: "a", 1: "b", 2: "c"} and model.task == "detect"
    result = model.predict(np.zeros((96, 128, 3), np.uint8), imgsz=128, verbose=False)[0]
    assert result.boxes is not None and result.orig_shape == (96, 128)
    # a fresh interpreter (isolated mode) loads and runs it without importing any of this project's packages
    script = ("import sys, numpy as np; from ultralytics import YOLO; m = YOLO(sys.argv[1]); "
              "m.predict(np.zeros((64, 64, 3), np.uint8), imgsz=64, verbose=False); "
              "print(sorted({k.split('.')[0] for k in sys.modules} & {'inspection', 'training', 'datasets'}))")
    done = subprocess.run([sys.executable, "-I", "-c", script, str(lite0_detector)], capture_output=True, text=True,
                          timeout=120, cwd=lite0_detector.parent, env={**os.environ, "YOLO_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_training_starts_from_the_imagenet_weights(tmp_path: Path) -> None:
    from inspection.simulation.synthetic import SolderGenerator, write_yolo_dataset
    from training.train import train_detector

    gen = SolderGenerator(seed=7, size=(64, 64))
    data = write_yolo_dataset(gen, tmp_path / "data", n_train=4, n_val=2, n_test=0)
    frozen = {"lr0": 0.0, "warmup_bias_lr": 0.0, "warmup_epochs": 0.0, "optimizer": "AdamW"}
    result = train_detector(data, tmp_path / "lite.pt", model_cfg="efficientnet-lite0", epochs=1, imgsz=64,
                            batch=4, device="cpu", runs_dir=tmp_path / "runs", extra=frozen)
    assert "efficientnet-lite0 trunk with ImageNet weights" in result.card.model_cfg
    assert result.card.classes == list(gen.classes)
    trained = torch.load(result.weights, map_location="cpu", weights_only=False)["model"].float()
    imagenet = torch.load(backbone_weights("efficientnet-lite0"), map_location="cpu", weights_only=True)
    depthwise = trained.model[3].conv.weight  # block 0's depthwise 3×3 (after the stem's pad, conv, ReLU6)
    assert torch.allclose(depthwise, imagenet["_blocks.0._depthwise_conv.weight"], atol=2e-3)
    with pytest.raises(ValueError, match="only detection"):
        train_detector(data, tmp_path / "seg.pt", model_cfg="efficientnet-lite0", task="segment", epochs=1,
                       imgsz=64, runs_dir=tmp_path / "runs")
