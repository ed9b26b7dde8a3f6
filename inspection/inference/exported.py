"""What every exported-model detector adapter shares: options, model lookup, start-up checks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from inspection.config import AdapterOptions, ConfigPath
from inspection.domain.tiling import TilingOptions
from inspection.domain.tta import TtaOptions
from inspection.errors import ConfigError, ModelError
from inspection.inference import model_id_for
from inspection.inference.model import Backend, ModelMeta
from inspection.inference.yolo_detector import YoloDetector

__all__ = ["ExportedModelOptions", "build_detector", "check_source_classes", "resolve_model"]

log = logging.getLogger(__name__)


class ExportedModelOptions(AdapterOptions):
    model: ConfigPath | None = Field(
        None, description="exported model; empty = the file exported beside the recipe's .pt model")
    conf: float = Field(0.05, ge=0.0, le=1.0, description="model-level floor; the recipe decides what counts")
    iou: float = Field(0.5, gt=0.0, le=1.0)
    max_det: int = Field(300, ge=1)
    threads: int = Field(0, ge=0, description="CPU threads for inference; 0 = the runtime's default")
    imgsz: int | None = Field(None, ge=32, le=4096,
                              description="expected input size; start-up fails when the export differs")


def resolve_model(options: ExportedModelOptions, model_path: Path | None, exported_name: Callable[[Path], Path],
                  fmt: str) -> Path:
    """The configured file, else the export beside the recipe's model (`station export-model` writes it there)."""
    if options.model is not None:
        return options.model
    if model_path is None:
        raise ConfigError("detector.model: no model file given in the station config nor in the recipe")
    model_path = Path(model_path)
    if model_path.suffix.lower() != ".pt":
        return model_path
    exported = exported_name(model_path)
    if not exported.exists():
        raise ModelError(f"no {fmt} export of {model_path} (looked for {exported}); run "
                         f"`station export-model --model {model_path} --format {fmt}` or set detector.model")
    return exported


def check_source_classes(meta: ModelMeta, exported: Path, model_path: Path | None) -> None:
    """An export made from another model than the recipe's would judge with the wrong class list."""
    if model_path is None or Path(model_path).suffix.lower() != ".pt" or not Path(model_path).is_file():
        return
    if meta.source_model_id and meta.source_model_id == model_id_for(Path(model_path)):
        return
    from inspection.inference.torch_runtime import load_yolo  # only when the ids differ

    names = load_yolo(Path(model_path)).names
    source_classes = tuple(str(names[i]) for i in sorted(names))
    if source_classes != meta.class_names:
        raise ModelError(
            f"{exported} was exported with classes ({', '.join(meta.class_names)}) but the recipe's model "
            f"{model_path} has ({', '.join(source_classes)}); re-export: "
            f"`station export-model --model {model_path} --format ...`"
        )
    log.warning("%s was exported from another version of %s (same classes)", exported, model_path)


def build_detector(backend: Backend, meta: ModelMeta, path: Path, options: ExportedModelOptions,
                   context: dict[str, Any], model_path: Path | None) -> YoloDetector:
    """The detector over a loaded backend; the recipe's `tiling` and `tta` come in the adapter context."""
    tiling, tta = context.get("tiling"), context.get("tta")
    try:
        if options.imgsz is not None and tuple(meta.imgsz) != (options.imgsz, options.imgsz):
            raise ModelError(f"{path}: exported at imgsz {list(meta.imgsz)} but detector.imgsz is "
                             f"{options.imgsz}; re-export with `station export-model --imgsz {options.imgsz}`")
        check_source_classes(meta, path, model_path)
        return YoloDetector(backend, meta, path, conf=options.conf, iou=options.iou, max_det=options.max_det,
                            tiling=tiling if isinstance(tiling, TilingOptions) else None,
                            tta=tta if isinstance(tta, TtaOptions) else None)
    except BaseException:
        backend.close()
        raise
