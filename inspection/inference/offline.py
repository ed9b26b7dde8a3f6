"""Keep ultralytics and OpenVINO's tools off the network: no hub, no weight or font downloads, no telemetry.

Call `ensure_offline()` before the first `import ultralytics` anywhere in the station, and
`block_vendor_telemetry()` before OpenVINO's model converter or NNCF run (ensure_offline does it too).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["block_vendor_telemetry", "enforce_safe_loading", "ensure_offline"]

logger = logging.getLogger(__name__)

_DONE = False


def ensure_offline() -> None:
    global _DONE
    if _DONE:
        return
    block_vendor_telemetry()  # ultralytics' OpenVINO export runs OpenVINO's converter
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


def block_vendor_telemetry() -> None:
    """Stop OpenVINO's model converter (ovc, also under ultralytics' export) and NNCF from sending usage
    telemetry: without a consent file in ~/intel they write a client id there and post to Google Analytics from
    a forked process. Both fall back to a silent stub when `openvino_telemetry` cannot be imported, so the
    module is made unimportable for this process (nothing else of ours uses it)."""
    module = sys.modules.get("openvino_telemetry", ...)
    if module is None:
        return  # blocked already
    if module is not ...:  # imported before us: its Telemetry singleton may already be sending
        logger.warning("openvino_telemetry was imported before the station could block it; its telemetry may be "
                       "sent (import inspection.inference.offline first)")
        return
    sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # `import` raises ImportError
