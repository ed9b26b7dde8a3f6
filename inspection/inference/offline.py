"""Keep ultralytics off the network: no hub, no weight or font downloads, no telemetry.

Call `ensure_offline()` before the first `import ultralytics` anywhere in the station.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["ensure_offline"]

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
    from ultralytics import settings

    settings.update(
        {"sync": False, "clearml": False, "comet": False, "dvc": False, "mlflow": False,
         "raytune": False, "tensorboard": False, "wandb": False}
    )
    _DONE = True
