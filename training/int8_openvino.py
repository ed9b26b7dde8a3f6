"""INT8 for the OpenVINO backend with NNCF: post-training quantization of the station's FP32 IR.

`nncf.quantize` calibrates on the recipe's own images; with a golden set, `nncf.quantize_with_accuracy_control`
then reverts the layers that cost the most F1 to floating point until the drop is within the tolerance (the
export's golden-set gate still decides afterwards, as for ONNX Runtime's QDQ INT8).

The detection head's post-processing stays in floating point, as ultralytics' own OpenVINO INT8 export does
(`ultralytics/utils/export/openvino.py`: every Sigmoid, the ops of the head module itself and its DFL; the
head's convolutions are quantized). Our IR is converted from ONNX, so names read `/model.22/Concat` (the head's
own op), `/model.22/dfl/...` (DFL) and `/model.22/cv3.0/...` (a head convolution, quantized).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import ConfigError
from inspection.inference.model import META_KEY, ModelMeta

__all__ = ["Validation", "head_ignored_names", "nncf_quantize", "quantize_openvino"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validation:
    """The golden set for accuracy control: network inputs and a metric over the raw outputs of a subset.

    `score(raws, indices)` gets the raw output (C, anchors) of `tensors[i]` for each `i` in `indices` and
    returns a value where higher is better (F1); `max_drop` is the largest absolute drop allowed."""

    tensors: tuple[np.ndarray, ...]
    score: Callable[[list[np.ndarray], list[int]], float]
    max_drop: float


def _import_nncf() -> Any:
    # NNCF sends usage events (openvino-telemetry, opt-out) unless it believes it runs in CI; the station
    # sends nothing anywhere, so switch it off before NNCF's first import reads the variable.
    os.environ.setdefault("NNCF_CI", "1")
    from inspection.inference.offline import block_vendor_telemetry

    block_vendor_telemetry()  # and without the telemetry package NNCF (and OpenVINO's converter) send nothing
    try:
        import nncf
    except ImportError:
        raise ConfigError("INT8 for OpenVINO needs NNCF: pip install 'inspection-station[train]' "
                          "(or pip install nncf)") from None
    return nncf


@contextlib.contextmanager
def _quiet_nncf() -> Iterator[None]:
    quiet = logging.getLogger("nncf")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # NNCF logs every step and draws progress bars at INFO
    try:
        yield
    finally:
        quiet.setLevel(level)


def nncf_quantize(model: Any, calibration: list[np.ndarray], ignored_names: list[str], minmax: bool = False) -> Any:
    """Plain post-training INT8 of an OpenVINO model (MIXED preset, every calibration tensor used), with the
    ops named in `ignored_names` kept in floating point; for models other than the detector too. `minmax`:
    activation ranges from the global minimum/maximum over the calibration set instead of NNCF's default
    (which clips outliers: right for a detector, wrong where the outliers are what is looked for)."""
    nncf = _import_nncf()
    ignored = nncf.IgnoredScope(names=ignored_names, validate=False) if ignored_names else None
    extra: dict[str, Any] = {}
    if minmax:
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
        from nncf.quantization.range_estimator import RangeEstimatorParametersSet

        extra["advanced_parameters"] = AdvancedQuantizationParameters(
            activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
    with _quiet_nncf():
        return nncf.quantize(model, nncf.Dataset(calibration), preset=nncf.QuantizationPreset.MIXED,
                             subset_size=len(calibration), ignored_scope=ignored, **extra)


def head_ignored_names(model: Any, whole_head: bool = False) -> list[str]:
    """Friendly names of the ops kept in floating point: ultralytics' ignored scope, on ONNX-derived names.

    The head is the module of the last Sigmoid (the class scores); ignored are every Sigmoid, the head's own
    ops (`/model.N/<op>`: box decoding, concatenation) and its DFL (`/model.N/dfl/...`); with `whole_head`
    its convolutions too (what the ONNX Runtime QDQ path does)."""
    ops = model.get_ordered_ops()
    sigmoids = [op.get_friendly_name() for op in ops if op.get_type_name() == "Sigmoid"]
    if not sigmoids:
        return []
    head = sigmoids[-1].lstrip("/").split("/", 1)[0]  # "model.22"
    names = []
    for op in ops:
        name = op.get_friendly_name()
        parts = name.lstrip("/").split("/")
        in_head = parts[0] == head and (whole_head or len(parts) == 2 or parts[1] == "dfl")
        if op.get_type_name() == "Sigmoid" or in_head:
            names.append(name)
    return names


def quantize_openvino(fp32: Path, out: Path, calibration: list[np.ndarray], meta: ModelMeta,
                      validation: Validation | None = None, whole_head: bool = False) -> Path:
    """Quantize the FP32 IR `fp32` to `out` (.xml), calibrated on `calibration` (network input tensors).

    With `validation`, accuracy control keeps the F1 drop on it within `validation.max_drop` (it may return a
    model with some layers back in floating point, or fully quantized when nothing needs restoring)."""
    import openvino as ov

    nncf = _import_nncf()
    model = ov.Core().read_model(str(fp32))
    names = head_ignored_names(model, whole_head)
    if validation is None:
        quantized = nncf_quantize(model, calibration, names)
    else:
        ignored = nncf.IgnoredScope(names=names, validate=False) if names else None
        common: dict[str, Any] = {"preset": nncf.QuantizationPreset.MIXED, "subset_size": len(calibration),
                                  "ignored_scope": ignored}

        def validate(compiled: Any, indices: Iterable[int]) -> float:
            picked = list(indices)
            raws = [np.asarray(compiled(validation.tensors[i])[0])[0] for i in picked]
            return validation.score(raws, picked)

        with _quiet_nncf():
            quantized = nncf.quantize_with_accuracy_control(
                model, nncf.Dataset(calibration), nncf.Dataset(list(range(len(validation.tensors)))), validate,
                max_drop=validation.max_drop, drop_type=nncf.DropType.ABSOLUTE, **common)
    int8_meta = ModelMeta(meta.class_names, meta.imgsz, meta.task, meta.source_model_id, "int8", meta.stride)
    quantized.set_rt_info(int8_meta.to_json(), [META_KEY])
    out.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    return out
