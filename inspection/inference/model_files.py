"""No model file is deserialized in a way that can run code.

A `.pt` checkpoint is a zip holding a pickle, and a pickle may call any importable function while it is
read. Two locks, both applied before ultralytics sees the file:

1. `check_model_file` reads the pickle's opcodes *without executing them*
   (`torch.serialization.get_unsafe_globals_in_checkpoint`) and refuses the file unless every global it
   names is on the allow-list: `torch.nn` layer classes, ultralytics model/layer classes (nn.Module
   subclasses in `ultralytics.nn.modules` / `ultralytics.nn.tasks`) and a few plain data types. A payload
   (`os.system`, `builtins.exec`, `pathlib.Path.touch`…) is refused with its name, before a byte runs.
2. `offline.enforce_safe_loading` switches ultralytics' own loader to `torch.load(weights_only=True)` with its
   class allow-list (`ULTRALYTICS_SAFE_LOAD`), so a file that changes between the check and the load, or a
   load path we do not wrap (resume, export), is still read by torch's restricted unpickler.

Other formats carry no code: anomaly models are `.npz` read with `allow_pickle=False`, the joint head is
read with `weights_only=True`, ONNX/OpenVINO are protobuf/XML graphs.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path
from typing import Any

from inspection.errors import ModelError

__all__ = ["ALLOWED_DATA_GLOBALS", "check_model_file", "safe_torch_load", "unsafe_globals"]

# Plain data types that official ultralytics checkpoints pickle besides layers (args namespaces, numpy
# scalars, paths). Reconstructing them runs no user-chosen code.
ALLOWED_DATA_GLOBALS = frozenset({
    "collections.OrderedDict", "builtins.set", "builtins.frozenset", "builtins.slice",
    "numpy.dtype", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.dtypes.Float64DType", "numpy.dtypes.Float32DType", "numpy.dtypes.Int64DType",
    "ultralytics.utils.IterableSimpleNamespace", "ultralytics.yolo.utils.IterableSimpleNamespace",
    "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib._local.PosixPath", "pathlib._local.WindowsPath",
})
# Modules whose nn.Module subclasses are layers; anything else in them (functions, loaders such as
# AutoBackend in ultralytics.nn.autobackend, which is not listed) is refused.
_LAYER_MODULES = ("torch.nn.modules.", "ultralytics.nn.modules.")
_MODEL_MODULES = frozenset({"ultralytics.nn.tasks"})


def _allowed(name: str) -> bool:
    if name in ALLOWED_DATA_GLOBALS:
        return True
    module, _, attr = name.rpartition(".")
    if not (module.startswith(_LAYER_MODULES) or module in _MODEL_MODULES) or attr.startswith("_"):
        return False
    try:  # the modules are ours to import (installed packages); the checkpoint only names them
        obj = getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return False
    import torch

    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)


def unsafe_globals(path: Path) -> list[str]:
    """Globals the checkpoint's pickle names that are not on the allow-list (read statically, nothing runs)."""
    import torch

    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a loadable ultralytics model (not a zip-format PyTorch checkpoint; "
                         "legacy raw pickles are refused as they cannot be checked before loading): re-save it "
                         "with torch >= 1.6 or export it to ONNX")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as exc:  # a damaged archive: refuse, never fall back to a full load
        raise ModelError(f"{path}: cannot read the checkpoint's pickle ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from None
    return sorted(n for n in names if not _allowed(n))


def check_model_file(path: Path | str) -> Path:
    """Refuse a model file that could run code when loaded; returns the path when it is safe to load.

    `.pt`/`.pth` files are scanned (see module docstring); other formats are data only."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; check detector.model or the recipe's model")
    if path.suffix.lower() not in (".pt", ".pth"):
        return path
    bad = unsafe_globals(path)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ModelError(f"{path}: refused before loading: its pickle names {shown}, which a model file never "
                         "needs (only torch/ultralytics layer classes are allowed). The file may be a trojan: "
                         "do not load it; train or export the model again from a trusted source")
    return path




def safe_torch_load(path: Path | str) -> Any:
    """Read a checkpoint after `check_model_file`, through ultralytics' restricted (weights_only) loader."""
    from inspection.inference.offline import ensure_offline

    check_model_file(path)
    ensure_offline()
    from ultralytics.nn.tasks import torch_safe_load

    try:
        ckpt, _ = torch_safe_load(str(path), safe_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: not a loadable checkpoint under the restricted loader "
                         f"({type(exc).__name__}: {str(exc)[:300]})") from None
    return ckpt
