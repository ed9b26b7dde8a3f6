"""`kind: ortsingle`: an exported YOLO model in ONNX Runtime on exactly one thread (reproducible timing).

A backend the station does not ship; hooks make it an export format and a bench backend too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from inspection.inference.exported import ExportedModelOptions, build_detector, resolve_model
from inspection.inference.model import ModelMeta
from inspection.inference.onnx_runtime import OnnxBackend
from inspection.inference.yolo_detector import YoloDetector

DOCS = "fake_plc_plugin/ortsingle.py"


class Options(ExportedModelOptions):
    kind: Literal["ortsingle"] = "ortsingle"


def exported_path(pt: Path) -> Path:
    return pt.with_name(pt.stem + ".single.onnx")


def export_from_onnx(onnx_path: Path, out: Path, meta: ModelMeta) -> Path:
    shutil.copyfile(onnx_path, out)
    return out


def verify_backend(path: Path) -> OnnxBackend:
    return OnnxBackend(path, threads=1, device="cpu")


def create(options: Options, *, model_path: Path | None = None, **context: Any) -> YoloDetector:
    path = resolve_model(options, model_path, exported_path, "ortsingle")
    backend = OnnxBackend(path, threads=1, device="cpu")
    backend.name = "ortsingle"
    return build_detector(backend, backend.meta, path, options, context, model_path)
