"""Keep ultralytics off the network: no hub, no weight or font downloads, no telemetry.

Call `ensure_offline()` before the first `import ultralytics` anywhere in the station.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["enforce_safe_loading", "ensure_offline"]

_DONE = False


def ensure_offline() -> None:
    global _DONE
    if _DONE:
        return
    os.environ["YOLO_OFFLINE"] = "1"  # ultralytics.utils.is_online() returns False at once
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")  # never pip-install requirements at run time
    config_dir = Path(os.environ.get("YOLO_CONFIG_DIR", Path(tempfile.gettempdir()) / "station-ultralytics"))
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    enforce_safe_loading()  # every checkpoint through torch.load(weights_only=True) + allow-list
    from ultralytics import settings

    settings.update(
        {"sync": False, "clearml": False, "comet": False, "dvc": False, "mlflow": False,
         "raytune": False, "tensorboard": False, "wandb": False}
    )
    enforce_safe_loading()  # again: the module flag, now that ultralytics is imported
    _DONE = True

def enforce_safe_loading() -> None:
    """Make ultralytics load every checkpoint with `torch.load(weights_only=True)` and its allow-list.

    Sets the env flag for an ultralytics not yet imported and the module flag for one already imported."""
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    import sys

    tasks = sys.modules.get("ultralytics.nn.tasks")
    if tasks is not None and hasattr(tasks, "SAFE_LOAD"):
        tasks.SAFE_LOAD = True
    utils = sys.modules.get("ultralytics.utils")
    if utils is not None and hasattr(utils, "SAFE_LOAD"):
        utils.SAFE_LOAD = True
