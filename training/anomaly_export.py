"""Export an anomaly model (feature extractor + kNN scoring + map blur) to ONNX or OpenVINO IR.

The exported graph takes the preprocessed batch (N×3×S×S float32, see `model.preprocess`) and returns
`anomaly_map` (N×S×S) and `score` (N,), exactly what the torch runtime computes; the memory bank is a
constant inside it. The model's meta (threshold, image size, channels, normalisation) is written into
the file (ONNX `metadata_props`, OpenVINO `rt_info`) so that the decision rule travels with it.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Literal

from inspection.anomaly.model import load_npz_model
from inspection.anomaly.runtime import META_KEY
from inspection.errors import ModelError

__all__ = ["EXPORT_FORMATS", "export_anomaly"]

EXPORT_FORMATS = ("onnx", "openvino")


def export_anomaly(model_path: Path | str, fmt: Literal["onnx", "openvino"] = "onnx", out: Path | str | None = None,
                   opset: int = 17) -> Path:
    """Write `<model>.onnx` or `<model>.xml` (+ .bin) beside the model (or at `out`); return its path."""
    if fmt not in EXPORT_FORMATS:
        raise ModelError(f"export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    model_path = Path(model_path)
    suffix = ".onnx" if fmt == "onnx" else ".xml"
    target = Path(out) if out is not None else model_path.with_suffix(suffix)
    if target.suffix != suffix:
        raise ModelError(f"{target}: a {fmt} export is written to a {suffix} file")
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        return _export_onnx(model_path, target, opset)
    onnx_path = target.with_suffix(".onnx.tmp")
    try:
        _export_onnx(model_path, onnx_path, opset)
        return _onnx_to_openvino(onnx_path, target)
    finally:
        onnx_path.unlink(missing_ok=True)


def _export_onnx(model_path: Path, target: Path, opset: int) -> Path:
    import onnx
    import torch

    from inspection.anomaly.network import scorer_for

    model = load_npz_model(model_path)
    meta = model.meta
    scorer = scorer_for(model)
    example = torch.zeros(1, 3, meta.imgsz, meta.imgsz)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        torch.onnx.export(
            scorer, (example,), str(target), input_names=["images"], output_names=["anomaly_map", "score"],
            dynamic_axes={"images": {0: "batch"}, "anomaly_map": {0: "batch"}, "score": {0: "batch"}},
            opset_version=opset, dynamo=False,
        )
    proto = onnx.load(str(target))
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, meta.to_json()
    onnx.save(proto, str(target))
    return target


def _onnx_to_openvino(onnx_path: Path, target: Path) -> Path:
    from inspection.inference.openvino_runtime import convert_onnx

    return convert_onnx(onnx_path, target, _onnx_meta(onnx_path), META_KEY)  # fp32: scores match the threshold


def _onnx_meta(onnx_path: Path) -> str:
    import onnx

    proto = onnx.load(str(onnx_path), load_external_data=False)
    for entry in proto.metadata_props:
        if entry.key == META_KEY:
            return str(entry.value)
    raise ModelError(f"{onnx_path}: no anomaly metadata inside; export it with `station anomaly export`")
