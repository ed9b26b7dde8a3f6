"""A YOLO detector on the ImageNet EfficientNet-Lite0 backbone that ships offline (`../shared/PRETRAINED.md`).

No YOLO/COCO weights exist offline, so every detector used to start from random weights. This module writes
the EfficientNet-Lite0 trunk *as an ultralytics model YAML* — only layers plain ultralytics knows (`Conv`, with
`groups` for the depthwise ones, `nn.ZeroPad2d`, `nn.ReLU6`, and `CBLinear` + `CBFuse` for the inverted-residual
skip, which sum a 1×1 projection with the block input) — with the YOLOv8n neck and head on top, and copies the
ImageNet weights into it. The result is an ordinary ultralytics checkpoint: `YOLO(path)`, `yolo val`,
`yolo train` and the station's safe-load check work on it without this project installed, and training
continues from it like from any `.pt`.

Exact where it matters: ReLU6 everywhere in the trunk, BatchNorm statistics as trained; the trunk's
`(rgb - 127) / 128` input scaling is folded into the stem (ultralytics feeds rgb / 255), and the BatchNorm after
each residual projection is folded into that projection's bias (`CBLinear` has a bias, no BatchNorm).
Stride-2 convolutions pad like TensorFlow's "same" (an `nn.ZeroPad2d` layer before them). The only
difference: the stem's input scaling is exact inside the image but the zero padding around it is now "black"
(-0.99) instead of grey (0). The neck and head (YOLOv8n widths 64/128/256) start random.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["LITE0_BLOCKS", "PRETRAINED_BACKBONES", "build_pretrained_detector", "lite0_detector_yaml",
           "load_lite0_weights"]

PRETRAINED_NAME = "efficientnet-lite0"
PRETRAINED_BACKBONES = (PRETRAINED_NAME,)  # what `station train --model-cfg` accepts besides YAMLs and checkpoints


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    c_in: int
    c_out: int


# EfficientNet-Lite0 (width 1.0, depth 1.0; stem 32, no squeeze-excitation): the seven stages of MBConv blocks.
LITE0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),  # ends at stride 8: P3
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),  # ends at stride 16: P4
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),  # ends at stride 32: P5
)


def _blocks() -> list[Stage]:
    """One Stage per MBConv block (repeats 1), in the order of the pretrained state dict's `_blocks.N`."""
    out = []
    for stage in LITE0_STAGES:
        out.append(Stage(1, stage.kernel, stage.stride, stage.expand, stage.c_in, stage.c_out))
        out += [Stage(1, stage.kernel, 1, stage.expand, stage.c_out, stage.c_out)] * (stage.repeats - 1)
    return out


LITE0_BLOCKS = tuple(_blocks())
_TAPS = {4: "P3", 10: "P4", 15: "P5"}  # last block of the stages whose outputs feed the neck


@dataclass(frozen=True)
class BlockLayers:
    """Where one MBConv block's tensors went in the YAML model (layer indices; None where the block has none)."""

    expand: int | None
    depthwise: int
    project: int
    residual: bool


def _conv(c_out: int, kernel: int, stride: int, groups: int = 1) -> list[list[Any]]:
    """Conv + BatchNorm, no activation; stride 2 pads like TensorFlow's "same" (more on the right and bottom),
    so the pretrained filters see the pixels they were trained on (input sizes are multiples of 32: even)."""
    conv = [-1, 1, "Conv", [c_out, kernel, stride, None if stride == 1 else 0, groups, 1, False]]
    if stride == 1:
        return [conv]
    low = (kernel - stride) // 2
    return [[-1, 1, "nn.ZeroPad2d", [[low, kernel - stride - low, low, kernel - stride - low]]], conv]


def _trunk() -> tuple[list[list[Any]], list[BlockLayers], dict[str, int]]:
    layers: list[list[Any]] = [*_conv(32, 3, 2), [-1, 1, "nn.ReLU6", []]]
    placed, taps = [], {}
    for i, block in enumerate(LITE0_BLOCKS):
        block_input = len(layers) - 1
        hidden = block.c_in * block.expand
        expand = None
        if block.expand != 1:
            expand = len(layers)
            layers += [[-1, 1, "Conv", [hidden, 1, 1, None, 1, 1, False]], [-1, 1, "nn.ReLU6", []]]
        layers += _conv(hidden, block.kernel, block.stride, groups=hidden)
        depthwise = len(layers) - 1
        layers += [[-1, 1, "nn.ReLU6", []]]
        project = len(layers)
        residual = block.stride == 1 and block.c_in == block.c_out
        if residual:  # x + project(x): CBLinear is the projection (BatchNorm folded in), CBFuse the sum
            layers += [[-1, 1, "CBLinear", [[block.c_out], 1]], [[project, block_input], 1, "CBFuse", [[0]]]]
        else:
            layers += [[-1, 1, "Conv", [block.c_out, 1, 1, None, 1, 1, False]]]
        placed.append(BlockLayers(expand, depthwise, project, residual))
        if i in _TAPS:
            taps[_TAPS[i]] = len(layers) - 1
    return layers, placed, taps


def lite0_detector_yaml(nc: int) -> dict[str, Any]:
    """The model dict for `DetectionModel(cfg=...)`: Lite0 trunk, SPPF, YOLOv8n neck (64/128/256), Detect."""
    backbone, _, taps = _trunk()
    sppf = len(backbone)
    backbone.append([-1, 1, "SPPF", [256, 5]])
    n = sppf + 1
    head = [
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],  # n
        [[-1, taps["P4"]], 1, "Concat", [1]],
        [-1, 1, "C2f", [128]],  # n+2
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, taps["P3"]], 1, "Concat", [1]],
        [-1, 1, "C2f", [64]],  # n+5: P3 out
        [-1, 1, "Conv", [64, 3, 2]],
        [[-1, n + 2], 1, "Concat", [1]],
        [-1, 1, "C2f", [128]],  # n+8: P4 out
        [-1, 1, "Conv", [128, 3, 2]],
        [[-1, sppf], 1, "Concat", [1]],
        [-1, 1, "C2f", [256]],  # n+11: P5 out
        [[n + 5, n + 8, n + 11], 1, "Detect", ["nc"]],
    ]
    return {"nc": int(nc), "depth_multiple": 1.0, "width_multiple": 1.0, "backbone": backbone, "head": head,
            "backbone_name": PRETRAINED_NAME}


def _copy_bn(bn: torch.nn.BatchNorm2d, source: dict[str, torch.Tensor], prefix: str) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn, name).data.copy_(source[f"{prefix}.{name}"])
    bn.eps = 1e-3  # the trunk's own (TensorFlow) epsilon


def _fold_bn(weight: torch.Tensor, source: dict[str, torch.Tensor], prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    scale = source[f"{prefix}.weight"] / torch.sqrt(source[f"{prefix}.running_var"] + 1e-3)
    bias = source[f"{prefix}.bias"] - source[f"{prefix}.running_mean"] * scale
    return weight * scale.view(-1, 1, 1, 1), bias


@torch.no_grad()
def load_lite0_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> int:
    """Copy the ImageNet state dict into a model built from `lite0_detector_yaml`; returns tensors copied."""
    layers = model.model
    _, placed, _ = _trunk()
    copied = 0
    # stem: ultralytics feeds rgb/255, the trunk was trained on (rgb - 127)/128 = a*x + b
    a, b = 255.0 / 128.0, -127.0 / 128.0
    stem_w = state["_conv_stem.weight"]
    stem = layers[1]  # after its padding
    stem.conv.weight.copy_(stem_w * a)
    _copy_bn(stem.bn, state, "_bn0")
    stem.bn.running_mean.sub_(b * stem_w.sum(dim=(1, 2, 3)))
    copied += 5
    for i, where in enumerate(placed):
        p = f"_blocks.{i}"
        if where.expand is not None:
            layers[where.expand].conv.weight.copy_(state[f"{p}._expand_conv.weight"])
            _copy_bn(layers[where.expand].bn, state, f"{p}._bn0")
            copied += 5
        layers[where.depthwise].conv.weight.copy_(state[f"{p}._depthwise_conv.weight"])
        _copy_bn(layers[where.depthwise].bn, state, f"{p}._bn1")
        copied += 5
        if where.residual:
            weight, bias = _fold_bn(state[f"{p}._project_conv.weight"], state, f"{p}._bn2")
            layers[where.project].conv.weight.copy_(weight)
            layers[where.project].conv.bias.copy_(bias)
        else:
            layers[where.project].conv.weight.copy_(state[f"{p}._project_conv.weight"])
            _copy_bn(layers[where.project].bn, state, f"{p}._bn2")
        copied += 5
    return copied


def build_pretrained_detector(nc: int, out_path: str | Path, names: list[str] | None = None) -> Path:
    """Write an ultralytics checkpoint: Lite0 trunk with ImageNet weights, random YOLOv8n neck/head, `nc` classes.

    Train on from it like from any checkpoint (`station train --init-weights`, `training.ship --init`)."""
    from datetime import UTC, datetime

    from ultralytics.nn.tasks import DetectionModel

    from inspection.anomaly.network import backbone_weights

    model = DetectionModel(cfg=lite0_detector_yaml(nc), ch=3, nc=nc, verbose=False)
    state = torch.load(backbone_weights(PRETRAINED_NAME), map_location="cpu", weights_only=True)
    load_lite0_weights(model, state)
    model.names = {i: n for i, n in enumerate(names)} if names else {i: f"class{i}" for i in range(nc)}
    model.args = {"imgsz": 320}
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "ema": None, "date": datetime.now(UTC).isoformat(),
                "train_args": {}, "pretrained": f"{PRETRAINED_NAME} (ImageNet)"}, out)
    return out
