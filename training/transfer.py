"""How far does synthetic training transfer? The synthetic solder model on real solder-joint crops.

The real set (``../shared/data/solder-joints``, Ulger et al. 2023) holds crops of single joints, one folder
per class. Four of its classes overlap the synthetic solder classes. Each crop is scaled to the size a joint
has in the synthetic images, placed on a neutral canvas, and judged like a part: a crop of a defect class
counts as caught when any detection clears the threshold (and as correctly named when the detection is
of the matching class); a ``normal`` crop with any detection is a false reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["REAL_TO_SYNTHETIC", "TransferRow", "solder_joint_transfer", "transfer_table"]

REAL_TO_SYNTHETIC: dict[str, str | None] = {
    "short": "bridge",
    "insufficient_solder": "insufficient",
    "excessive_solder": "excess",
    "shifted_component": "shifted",
    "normal": None,
}


@dataclass(frozen=True, slots=True)
class TransferRow:
    real_class: str
    synthetic_class: str | None
    images: int
    flagged: float  # share of crops with any detection above the threshold
    named: float  # share with a detection of the matching synthetic class


def _canvas(crop: np.ndarray, imgsz: int, joint_px: int) -> np.ndarray:
    import cv2

    h, w = crop.shape[:2]
    scale = joint_px / max(h, w)
    crop = cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((imgsz, imgsz, 3), int(np.median(crop)), np.uint8)
    y, x = (imgsz - crop.shape[0]) // 2, (imgsz - crop.shape[1]) // 2
    canvas[y : y + crop.shape[0], x : x + crop.shape[1]] = crop if crop.ndim == 3 else crop[..., None]
    return canvas


def solder_joint_transfer(
    model_path: str | Path,
    root: str | Path,
    conf: float = 0.25,
    per_class: int = 60,
    imgsz: int = 320,
    joint_px: int = 96,
) -> list[TransferRow]:
    """Judge up to ``per_class`` crops per real class (evenly spread over the folder, deterministic)."""
    import cv2

    from training.train import _offline

    _offline(2)
    from ultralytics import YOLO

    from inspection.inference.model_files import check_model_file

    model = YOLO(str(check_model_file(model_path)))
    names = model.names
    rows = []
    for real, synthetic in REAL_TO_SYNTHETIC.items():
        files = sorted(
            p for p in (Path(root) / real).iterdir() if p.suffix.lower() in {".png", ".tif", ".tiff", ".jpg"}
        )
        files = files[:: max(1, len(files) // per_class)][:per_class]
        flagged = named = 0
        for path in files:
            crop = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if crop is None:
                continue
            result = model.predict(_canvas(crop, imgsz, joint_px), imgsz=imgsz, conf=conf, verbose=False)[0]
            found = {names[int(c)] for c in result.boxes.cls.tolist()}
            flagged += bool(found)
            named += synthetic in found
        count = max(len(files), 1)
        rows.append(TransferRow(real, synthetic, len(files), flagged / count, named / count))
    return rows


def transfer_table(rows: list[TransferRow]) -> str:
    lines = [
        "| real class | synthetic class | crops | flagged (any class) | named (matching class) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.real_class} | {r.synthetic_class or '— (good)'} | {r.images} | {r.flagged:.2f} | {r.named:.2f} |"
        )
    return "\n".join(lines) + "\n"
