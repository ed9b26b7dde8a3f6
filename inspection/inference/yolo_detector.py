"""`YoloDetector`: the Detector port over any `Backend`, with staged calls the runtime can overlap.

`detect(frame)` is the plain Detector protocol. The concurrent runtime uses the three stages
separately — `prepare` (letterbox into a pooled input buffer), `start`/`complete` (one network call for a
batch of frames/tiles; with a backend that has asynchronous requests, up to `in_flight` calls under way at
once), `finish` (decode, NMS, masks → polygons) — so that pre- and post-processing of one part overlap the
inference of the next.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from inspection.domain.tiling import TilingOptions, merge_detections, tile_windows
from inspection.domain.tta import TtaOptions, flip_image, fuse_copies
from inspection.domain.types import Box, Detection, Frame
from inspection.inference import DetectorOutput, Prepared, model_id_for
from inspection.inference.model import Backend, FinishedForward, ModelMeta, PendingForward
from inspection.inference.yolo import (
    RawDetections,
    decode,
    letterbox_into,
    letterbox_u8_into,
    mask_polygons,
    nms,
)

__all__ = ["InFlight", "YoloDetector"]


class _BufferPool:
    """Network-input buffers reused across frames: no 5-MB allocation per part on the hot path."""

    def __init__(self, shape: tuple[int, int, int], size: int, dtype: type = np.float32) -> None:
        self._shape, self._dtype = shape, dtype
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        for _ in range(size):
            self._free.put(np.empty(shape, dtype))

    def take(self) -> np.ndarray:
        try:
            return self._free.get_nowait()
        except queue.Empty:  # more parts in flight than planned: allocate rather than wait
            return np.empty(self._shape, self._dtype)

    def give(self, buffer: np.ndarray) -> None:
        self._free.put(buffer)


@dataclass(slots=True)
class InFlight:
    """Network calls started for some prepared items, with how many tensors each call holds."""

    items: list[Prepared]
    calls: list[tuple[PendingForward, int]]
    started: float


class YoloDetector:
    """Detector port for a YOLO detect/segment model exported to any backend."""

    def __init__(self, backend: Backend, meta: ModelMeta, path: Path, *, conf: float, iou: float, max_det: int,
                 tiling: TilingOptions | None = None, tta: TtaOptions | None = None, pool_size: int = 16) -> None:
        self.backend = backend
        self.meta = meta
        self.path = Path(path)
        self.class_names = meta.class_names
        self.task = meta.task
        self.model_id = model_id_for(_weights_file(self.path))
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.tiling = tiling
        self.tta = tta
        self._views: tuple[str, ...] = ("", *(tta.flips if tta else ()))  # "" = the image itself
        self.max_batch = backend.max_batch
        # Backends that take uint8 HWC BGR (OpenVINO with in-graph pre-processing) get the cheap letterbox.
        self._u8 = getattr(backend, "input_format", "f32_nchw_rgb") == "u8_nhwc_bgr"
        self._letterbox = letterbox_u8_into if self._u8 else letterbox_into
        shape = (*meta.imgsz, 3) if self._u8 else (3, *meta.imgsz)
        self._pool = _BufferPool(shape, pool_size, np.uint8 if self._u8 else np.float32)
        self._lock = threading.Lock()  # one synchronous network call at a time per backend instance
        # Network calls the runtime may have under way at once (`start`/`complete`); 1 = `forward` only.
        self.in_flight = int(getattr(backend, "in_flight", 1)) if hasattr(backend, "submit") else 1

    # --- Detector protocol -----------------------------------------------------------------------

    def warmup(self, frame: Frame, runs: int = 3) -> None:
        """First calls of a cold model are many times slower (allocation, kernel selection): pay it now,
        at the batch sizes the line will use, then once through the full path on a frame."""
        for batch in sorted({1, self.max_batch}):
            zeros = (np.zeros((batch, *self.meta.imgsz, 3), np.uint8) if self._u8
                     else np.zeros((batch, 3, *self.meta.imgsz), np.float32))
            for _ in range(runs):
                self.backend.forward(zeros)
        self.detect(frame)

    def detect(self, frame: Frame) -> DetectorOutput:
        item = self.prepare(frame)
        try:
            self.forward([item])
            return self.finish(item)
        finally:
            self.release(item)

    def close(self) -> None:
        self.backend.close()

    # --- stages ------------------------------------------------------------------------------------

    def prepare(self, frame: Frame) -> Prepared:
        t0 = time.perf_counter()
        image = frame.image
        windows = tile_windows(frame.height, frame.width, self.tiling) if self.tiling else [
            (0, 0, frame.width, frame.height)]
        inputs, boxes = [], []
        for x1, y1, x2, y2 in windows:
            window = image[y1:y2, x1:x2]
            for flip in self._views:  # with test-time flips, each window's copies lie side by side
                buffer = self._pool.take()
                box = self._letterbox(flip_image(window, flip) if flip else window, buffer)
                if x1 or y1 or flip:
                    box = replace(box, offset_x=float(x1), offset_y=float(y1), flip=flip)
                inputs.append(buffer)
                boxes.append(box)
        return Prepared(frame, inputs, boxes, (time.perf_counter() - t0) * 1000.0)

    def forward(self, items: list[Prepared]) -> None:
        """One network call per batch of up to `max_batch` tensors (tiles of all items together)."""
        with self._lock:
            self.complete(self._run(items, self.backend.forward))

    def start(self, items: list[Prepared], queued: bool = False) -> InFlight | None:
        """Start the network on `items` and return at once (a backend with `in_flight` > 1: OpenVINO's
        asynchronous requests); `complete` waits. Otherwise (and for a part cut into more batches than one
        request holds) the call runs here and now, through `forward`, and there is nothing to wait for.
        `queued`: more parts wait behind these (passed on to the backend)."""
        if self.in_flight == 1 or sum(len(item.inputs) for item in items) > self.max_batch:
            self.forward(items)
            return None
        return self._run(items, None, queued)

    def complete(self, flight: InFlight | None) -> None:
        """Wait for a started call and hand each item its outputs and its share of the inference time."""
        if flight is None:  # `start` ran it already
            return
        outputs: list[list[np.ndarray]] = []
        for pending, size in flight.calls:
            raw = pending.result()
            outputs.extend([out[i] for out in raw] for i in range(size))
        share = (time.perf_counter() - flight.started) * 1000.0 / max(len(flight.items), 1)
        position = 0
        for item in flight.items:
            item.outputs = outputs[position:position + len(item.inputs)]
            item.infer_ms = share
            position += len(item.inputs)

    def _run(self, items: list[Prepared], forward: Callable[[np.ndarray], list[np.ndarray]] | None,
             queued: bool = False) -> InFlight:
        """The network calls for `items`, in chunks of `max_batch`: run now by `forward`, else submitted."""
        tensors = [t for item in items for t in item.inputs]
        flight = InFlight(items, [], time.perf_counter())
        for start in range(0, len(tensors), self.max_batch):
            chunk = tensors[start:start + self.max_batch]
            batch = np.stack(chunk) if len(chunk) > 1 else chunk[0][None]
            pending = (FinishedForward(forward(batch)) if forward is not None
                       else self.backend.submit(batch, queued=queued))
            flight.calls.append((pending, len(chunk)))
        return flight

    def finish(self, item: Prepared) -> DetectorOutput:
        t0 = time.perf_counter()
        nc = len(self.class_names)
        found: list[tuple[RawDetections, list[np.ndarray | None]]] = []
        for outputs, box in zip(item.outputs, item.boxes, strict=True):
            dets = decode(outputs[0], nc, box, self.conf, self.iou, self.max_det)
            polys = (mask_polygons(dets, outputs[1], box, self.meta.imgsz) if self.task == "segment"
                     else [None] * len(dets))
            found.append((dets, polys))
        if len(self._views) > 1:  # one result per window from its flipped copies
            n = len(self._views)
            found = [self._vote(found[i:i + n]) for i in range(0, len(found), n)]
        detections = self._merge(found) if len(found) > 1 else self._convert(*found[0])
        return DetectorOutput(detections, item.preprocess_ms, item.infer_ms, (time.perf_counter() - t0) * 1000.0)

    def release(self, item: Prepared) -> None:
        for buffer in item.inputs:
            self._pool.give(buffer)
        item.inputs = []

    # --- conversion ----------------------------------------------------------------------------------

    def _convert(self, dets: RawDetections, polys: list[np.ndarray | None]) -> tuple[Detection, ...]:
        out = []
        for (x1, y1, x2, y2), score, cls, poly in zip(dets.boxes, dets.scores, dets.classes, polys, strict=True):
            polygon = tuple((float(x), float(y)) for x, y in poly) if poly is not None and len(poly) >= 3 else None
            out.append(Detection(self.class_names[int(cls)], float(min(max(score, 0.0), 1.0)),
                                 Box(float(x1), float(y1), float(max(x2, x1)), float(max(y2, y1))),
                                 class_id=int(cls), polygon=polygon))
        return tuple(out)

    def _vote(self, found: list[tuple[RawDetections, list[np.ndarray | None]]]
              ) -> tuple[RawDetections, list[np.ndarray | None]]:
        """The flipped copies of one window, fused (box voting, see inspection.domain.tta)."""
        assert self.tta is not None
        boxes, scores, classes, polys = fuse_copies([(d.boxes, d.scores, d.classes, p) for d, p in found],
                                                    self.tta.merge_iou, self.max_det)
        return RawDetections(boxes, scores, classes), polys

    def _merge(self, found: list[tuple[RawDetections, list[np.ndarray | None]]]) -> tuple[Detection, ...]:
        """Tiles overlap, so a defect can be seen twice: keep the strongest per class (NMS)."""
        boxes = np.concatenate([d.boxes for d, _ in found]) if found else np.zeros((0, 4), np.float32)
        if len(boxes) == 0:
            return ()
        scores = np.concatenate([d.scores for d, _ in found])
        classes = np.concatenate([d.classes for d, _ in found])
        polys = [p for _, ps in found for p in ps]
        assert self.tiling is not None
        if self.tiling.merge == "iou":
            keep = nms(boxes, scores, classes, self.tiling.merge_iou, self.max_det)
            merged = RawDetections(boxes[keep], scores[keep], classes[keep])
            return self._convert(merged, [polys[i] for i in keep])
        union, groups = merge_detections(boxes, scores, classes, self.tiling.merge_iou, self.max_det)
        leaders = np.asarray([g[0] for g in groups], dtype=np.int64)
        merged = RawDetections(union, scores[leaders], classes[leaders])
        return self._convert(merged, [_merged_polygon([polys[i] for i in g]) for g in groups])


def _merged_polygon(polygons: list[np.ndarray | None]) -> np.ndarray | None:
    """One outline for the pieces of a defect cut by tile edges: the convex hull of their points."""
    pieces = [p for p in polygons if p is not None and len(p) >= 3]
    if len(pieces) <= 1:
        return pieces[0] if pieces else polygons[0]
    import cv2

    return cv2.convexHull(np.concatenate(pieces).astype(np.float32)).reshape(-1, 2)


def _weights_file(path: Path) -> Path:
    """An OpenVINO model's weights are in the .bin beside its .xml: hash those (the id names the weights)."""
    weights = path.with_suffix(".bin")
    return weights if path.suffix.lower() == ".xml" and weights.is_file() else path
