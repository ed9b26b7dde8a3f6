"""Small real YOLO models for tests and benchmarks, built offline from the yolov8n architecture.

An untrained YOLO's class biases are initialised so that every score is ~1e-4: nothing would ever be
detected and a comparison of two runtimes would compare zeros. `untrained_yolo(active=True)` zeroes
those biases, so the random network scores anchors around 0.5 and produces many real, varied boxes
(and masks) — enough to exercise decoding, NMS, masks and export deviations honestly.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from inspection.inference.offline import ensure_offline

__all__ = ["demo_split", "untrained_yolo"]


def untrained_yolo(path: Path, class_names: tuple[str, ...] = ("bridge", "solder_ball", "void"),
                   task: str = "detect", active: bool = True, seed: int = 0) -> Path:
    """Write an untrained yolov8n(-seg) with `class_names` to `path` (.pt) and return the path."""
    ensure_offline()
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    model = YOLO("yolov8n-seg.yaml" if task == "segment" else "yolov8n.yaml")
    head = model.model.model[-1]
    nc = len(class_names)
    if nc != head.nc:
        # Rebuild with the right class count (the yaml's nc is 80).
        from ultralytics.nn.tasks import DetectionModel, SegmentationModel

        cls = SegmentationModel if task == "segment" else DetectionModel
        model.model = cls("yolov8n-seg.yaml" if task == "segment" else "yolov8n.yaml", nc=nc, verbose=False)
        head = model.model.model[-1]
    if active:
        _activate(model.model, task)
    model.model.names = dict(enumerate(class_names))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not YOLO.save(): it stores FP16 weights, which overflow after the scaling above.
    from ultralytics import __version__

    torch.save({"model": model.model.float(), "ema": None, "train_args": {"task": task, "imgsz": 640},
                "version": __version__, "date": None}, str(path))
    return path


def _activate(net: object, task: str) -> None:
    """Scale the last class (and mask-coefficient) convolutions so their logits vary with the image."""
    import torch

    head = net.model[-1]  # type: ignore[attr-defined]
    branches = [(b[-1], -1.5) for b in head.cv3]
    if task == "segment":
        branches += [(b[-1], 0.0) for b in head.cv4]
    # PyTorch's default conv init shrinks the signal ~3x per layer: after 60 layers the head sees ~0.
    # He init keeps it alive, so the outputs depend on the image (as a trained model's do).
    with torch.no_grad():
        for module in net.modules():  # type: ignore[attr-defined]
            if isinstance(module, torch.nn.Conv2d):
                module.weight.normal_(0.0, (2.0 / module.weight[0].numel()) ** 0.5)
    seen: dict[int, torch.Tensor] = {}
    hooks = [conv.register_forward_hook(lambda m, i, o, k=id(conv): seen.__setitem__(k, o.detach()))
             for conv, _ in branches]
    net.eval()  # type: ignore[attr-defined]
    with torch.no_grad():
        net(torch.rand(1, 3, 128, 128))  # type: ignore[operator]
        for hook in hooks:
            hook.remove()
        for conv, bias in branches:
            logits = seen[id(conv)] - conv.bias.view(1, -1, 1, 1)
            conv.weight.mul_(1.5 / max(float(logits.std()), 1e-12))  # logit spread ~2: scores 0.05…0.9
            conv.bias.fill_(bias)


def demo_split(root: Path, parts: Sequence[str], product: str = "solder", split: str = "test") -> Path:
    """A YOLO data set of bundled demo parts (`inspection/demo/parts/<product>`), labelled with the boxes
    of their manifest; returns its data.yaml. Real model detections on real files, for eval tests."""
    import cv2
    import yaml

    from inspection.demo import demo_config_path

    folder = demo_config_path(product).parent / "parts" / product
    manifest = json.loads((folder / "manifest.json").read_text())
    classes = manifest["classes"]
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for name in parts:
        shutil.copy(folder / name, images / name)
        height, width = cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED).shape[:2]
        rows = []
        for defect in manifest["parts"][name]["defects"]:
            x1, y1, x2, y2 = defect["box"]
            rows.append(f"{classes.index(defect['class'])} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                        f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
        (labels / f"{Path(name).stem}.txt").write_text("".join(row + "\n" for row in rows))
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root), split: f"images/{split}", "names": dict(enumerate(classes))}))
    return data
