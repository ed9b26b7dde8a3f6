"""Inference backends: one exported YOLO model, many runtimes (ONNX Runtime, OpenVINO, TensorRT).

A backend only runs the network: `forward(batch)` takes a float32 NCHW batch and returns the raw
outputs. Everything YOLO-specific (letterbox, decoding, NMS, masks → polygons, tiling) lives in
`inspection.inference.yolo` / `inspection.inference.yolo_detector` and is shared by every backend, so the
station needs no ultralytics at run time. The model's metadata (class names, input size, task) travels
inside the exported file (ONNX `metadata_props`, OpenVINO `rt_info`).
"""

from __future__ import annotations

import ast
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from inspection.errors import ModelError

__all__ = ["META_KEY", "Backend", "FinishedForward", "ModelMeta", "PendingForward", "check_input_shape",
           "meta_from_ultralytics_props"]

META_KEY = "inspection_meta"
"""Key under which the station stores `ModelMeta` (JSON) inside an exported model."""


@dataclass(frozen=True, slots=True)
class ModelMeta:
    """What the station must know about an exported model to use it and to trust its verdicts."""

    class_names: tuple[str, ...]
    imgsz: tuple[int, int]  # (height, width) of the network input
    task: str  # "detect" | "segment"
    source_model_id: str = ""  # name@sha of the .pt it was exported from
    precision: str = "fp32"  # fp32 | int8
    stride: int = 32

    def __post_init__(self) -> None:
        if self.task not in ("detect", "segment"):
            raise ModelError(f"model task {self.task!r}: the station needs a detect or segment model")
        if not self.class_names:
            raise ModelError("model metadata has no class names; re-export it with `station export-model`")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        data = json.loads(text)
        return cls(class_names=tuple(data["class_names"]), imgsz=(int(data["imgsz"][0]), int(data["imgsz"][1])),
                   task=str(data["task"]), source_model_id=str(data.get("source_model_id", "")),
                   precision=str(data.get("precision", "fp32")), stride=int(data.get("stride", 32)))


def meta_from_ultralytics_props(props: dict[str, str], where: str) -> ModelMeta:
    """Read our own key, else the metadata ultralytics writes into every export (names, imgsz, task)."""
    if META_KEY in props:
        try:
            return ModelMeta.from_json(props[META_KEY])
        except (ValueError, KeyError, TypeError, IndexError) as exc:  # JSONDecodeError is a ValueError
            raise ModelError(f"{where}: the model's {META_KEY} metadata is damaged ({type(exc).__name__}: "
                             f"{str(exc)[:120]}); export the model again with `station export-model`") from None
    try:
        names = ast.literal_eval(props["names"])
        imgsz = ast.literal_eval(props["imgsz"])
        task = props["task"]
    except (KeyError, ValueError, SyntaxError):
        raise ModelError(
            f"{where}: no model metadata (class names, image size, task) inside the file; "
            f"export it with `station export-model --model MODEL.pt --format onnx|openvino`"
        ) from None
    try:
        classes = tuple(str(names[i]) for i in sorted(names))
        return ModelMeta(classes, (int(imgsz[0]), int(imgsz[1])), str(task), stride=int(props.get("stride", 32)))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelError(f"{where}: the model's ultralytics metadata is damaged ({type(exc).__name__}: "
                         f"{str(exc)[:120]}); export it with `station export-model`") from None


@runtime_checkable
class Backend(Protocol):
    """Runs the network. `input_shape` is (batch, 3, H, W) with batch -1 when dynamic.

    A backend may set `input_format = "u8_nhwc_bgr"` to be fed letterboxed uint8 BGR images and do the
    float conversion itself (fused in the engine); the default is float32 NCHW RGB in 0..1.

    A backend that can run several calls at once sets `in_flight` > 1 and has `submit(batch, queued)`, which
    starts the network and returns a `PendingForward` at once (OpenVINO's asynchronous requests); the runtime
    then keeps up to `in_flight` parts in the network, collecting them in the order they went in. `queued`
    says that more parts wait behind this call (a backend may then trade each call's latency for rate)."""

    name: str
    input_shape: tuple[int, int, int, int]
    max_batch: int

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        """float32 (N, 3, H, W) in, raw network outputs (each with N first) out."""
        ...

    def close(self) -> None: ...


class PendingForward(Protocol):
    """A network call under way: `result()` waits for it and returns the raw outputs."""

    def result(self) -> list[np.ndarray]: ...


@dataclass(frozen=True, slots=True)
class FinishedForward:
    """A network call that has already run (a backend without asynchronous calls)."""

    outputs: list[np.ndarray]

    def result(self) -> list[np.ndarray]:
        return self.outputs


def check_input_shape(shape: list[Any], meta: ModelMeta, where: str) -> tuple[int, int, int, int]:
    """The network input must be (N, 3, H, W) with H, W as in the metadata: fail at start-up, not mid-shift."""
    if len(shape) != 4:
        raise ModelError(f"{where}: input has shape {shape}; expected (batch, 3, height, width) — "
                         f"re-export the model with `station export-model`")
    dims = [d if isinstance(d, int) and d > 0 else -1 for d in shape]
    batch, channels, height, width = dims
    if channels != 3:
        raise ModelError(f"{where}: input has {shape[1]} channels; the station feeds 3-channel BGR→RGB images")
    if (height, width) != (-1, -1) and (height, width) != tuple(meta.imgsz):
        raise ModelError(
            f"{where}: input shape {shape} does not match the model's image size {list(meta.imgsz)} "
            f"in its metadata; re-export with `station export-model --imgsz {meta.imgsz[0]}`"
        )
    return (batch, 3, meta.imgsz[0], meta.imgsz[1])


def model_file(path: Path, suffixes: tuple[str, ...], kind: str) -> Path:
    """Check an exported model file exists and has the suffix the backend reads."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{kind} model {path} does not exist; create it with "
                         f"`station export-model --model MODEL.pt --format {kind}`")
    if path.suffix.lower() not in suffixes:
        raise ModelError(f"{path}: a {kind} backend reads {' or '.join(suffixes)} files, "
                         f"got {path.suffix or path.name}")
    return path
