"""YOLO (v8-style heads) pre- and post-processing in numpy/cv2, so exported models need no ultralytics.

- `letterbox_into`: resize keeping the aspect ratio, pad with grey 114, BGR→RGB, /255, written into a
  preallocated float32 CHW buffer (no per-frame allocation of the network input).
- `decode`: raw head output (4 + nc [+ 32 mask coefficients], anchors) → boxes, scores, classes after
  per-class NMS, mapped back to the original image.
- `mask_polygons`: segmentation mask coefficients × prototypes → one outline polygon per detection.

The numbers match ultralytics' LetterBox(auto=False) and non_max_suppression (class-aware) closely
enough that `training.export` can verify an export against the original model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.domain.tta import unflip_boxes, unflip_points

__all__ = ["Letterbox", "RawDetections", "decode", "letterbox_into", "letterbox_u8_into", "mask_polygons"]

PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was placed into the network input: scale `ratio`, then padding (left, top)."""

    ratio: float
    pad_x: float
    pad_y: float
    src_h: int
    src_w: int
    offset_x: float = 0.0  # where the image (tile) sits in the full frame
    offset_y: float = 0.0
    flip: str = ""  # the network saw the image flipped ("hflip", "vflip", "rot180"; see inspection.domain.tta)


def letterbox_into(image: np.ndarray, out: np.ndarray) -> Letterbox:
    """Letterbox `image` (HxW or HxWx3 BGR uint8) into `out` (3, H, W float32, RGB, 0..1)."""
    _, dst_h, dst_w = out.shape
    src_h, src_w = image.shape[:2]
    ratio = min(dst_h / src_h, dst_w / src_w)
    new_w, new_h = round(src_w * ratio), round(src_h * ratio)
    dw, dh = (dst_w - new_w) / 2.0, (dst_h - new_h) / 2.0
    resized = image if (new_w, new_h) == (src_w, src_h) else cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if resized.ndim == 2:
        resized = cv2.cvtColor(resized, cv2.COLOR_GRAY2BGR)
    top, left = round(dh - 0.1), round(dw - 0.1)
    out.fill(PAD_VALUE / 255.0)
    # One pass per channel: BGR → RGB and uint8 → 0..1 float straight into the (preallocated) input.
    for channel in range(3):
        np.multiply(resized[:, :, 2 - channel], 1.0 / 255.0,
                    out=out[channel, top:top + new_h, left:left + new_w], casting="unsafe")
    return Letterbox(ratio, float(left), float(top), src_h, src_w)


def letterbox_u8_into(image: np.ndarray, out: np.ndarray) -> Letterbox:
    """Letterbox `image` into `out` (H, W, 3 uint8, BGR, grey 114 padding) — for backends that convert
    to float, swap channels and scale inside the network (OpenVINO pre-processing): a quarter of the
    memory traffic of the float path, and the conversion runs fused in the inference engine."""
    dst_h, dst_w = out.shape[:2]
    src_h, src_w = image.shape[:2]
    ratio = min(dst_h / src_h, dst_w / src_w)
    new_w, new_h = round(src_w * ratio), round(src_h * ratio)
    dw, dh = (dst_w - new_w) / 2.0, (dst_h - new_h) / 2.0
    top, left = round(dh - 0.1), round(dw - 0.1)
    resized = image if (new_w, new_h) == (src_w, src_h) else cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    window = out[top:top + new_h, left:left + new_w]
    if resized.ndim == 2:
        cv2.cvtColor(resized, cv2.COLOR_GRAY2BGR, dst=window)
    else:
        window[...] = resized
    # Only the borders are painted: the image area was just overwritten.
    out[:top] = PAD_VALUE
    out[top + new_h:] = PAD_VALUE
    out[top:top + new_h, :left] = PAD_VALUE
    out[top:top + new_h, left + new_w:] = PAD_VALUE
    return Letterbox(ratio, float(left), float(top), src_h, src_w)


@dataclass(frozen=True, slots=True)
class RawDetections:
    """Detections of one image in original-image pixels (after NMS)."""

    boxes: np.ndarray  # (n, 4) xyxy float32
    scores: np.ndarray  # (n,)
    classes: np.ndarray  # (n,) int
    coefficients: np.ndarray | None = None  # (n, 32) mask coefficients for segmentation
    boxes_input: np.ndarray | None = None  # (n, 4) the same boxes in network-input pixels (for masks)

    def __len__(self) -> int:
        return len(self.scores)


def candidates(pred: np.ndarray, num_classes: int, conf: float) -> tuple[np.ndarray, ...]:
    """(4 + nc + k, anchors) → xyxy boxes, best score, best class, extra rows, for anchors over `conf`."""
    scores_all = pred[4:4 + num_classes]
    best = scores_all.max(axis=0)
    keep = np.flatnonzero(best > conf)
    cls = scores_all[:, keep].argmax(axis=0)
    cx, cy, w, h = pred[0, keep], pred[1, keep], pred[2, keep], pred[3, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    extra = pred[4 + num_classes:, keep].T
    return boxes, best[keep].astype(np.float32), cls.astype(np.int64), extra


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, max_det: int) -> np.ndarray:
    """Class-aware NMS; indices of kept boxes, best score first."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.tolist(), 0.0, iou, top_k=max_det)
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")][:max_det]


def decode(pred: np.ndarray, num_classes: int, box: Letterbox, conf: float, iou: float, max_det: int,
           pre_nms_top_k: int = 30000) -> RawDetections:
    """Decode one image's head output (4 + nc [+ 32], anchors) into detections in frame pixels."""
    boxes, scores, classes, extra = candidates(pred, num_classes, conf)
    if len(scores) > pre_nms_top_k:  # an untrained or confused model: bound the NMS cost
        top = np.argsort(-scores)[:pre_nms_top_k]
        boxes, scores, classes, extra = boxes[top], scores[top], classes[top], extra[top]
    keep = nms(boxes, scores, classes, iou, max_det)
    boxes_in = boxes[keep]
    mapped = to_frame(boxes_in, box)
    coefficients = extra[keep] if extra.shape[1] else None
    return RawDetections(mapped, scores[keep], classes[keep], coefficients, boxes_in)


def to_frame(boxes: np.ndarray, box: Letterbox) -> np.ndarray:
    """Network-input pixels → frame pixels (undo padding and scale, clip to the image, add tile offset)."""
    out = boxes.copy()
    out[:, [0, 2]] = ((out[:, [0, 2]] - box.pad_x) / box.ratio).clip(0, box.src_w)
    out[:, [1, 3]] = ((out[:, [1, 3]] - box.pad_y) / box.ratio).clip(0, box.src_h)
    if box.flip:
        out = unflip_boxes(out, box.flip, box.src_w, box.src_h)
    out[:, [0, 2]] += box.offset_x
    out[:, [1, 3]] += box.offset_y
    return out


def mask_polygons(dets: RawDetections, protos: np.ndarray, box: Letterbox,
                  input_hw: tuple[int, int]) -> list[np.ndarray | None]:
    """Mask outline per detection (largest external contour) in frame pixels; None when empty.

    Only the box's window of the prototype map is upsampled, not the whole mask: the cost stays per
    defect, not per pixel of the frame."""
    if dets.coefficients is None or dets.boxes_input is None or len(dets) == 0:
        return [None] * len(dets)
    n_protos, proto_h, proto_w = protos.shape
    scale_y, scale_x = input_hw[0] / proto_h, input_hw[1] / proto_w
    flat = protos.reshape(n_protos, -1)
    polygons: list[np.ndarray | None] = []
    for coeff, box_in in zip(dets.coefficients, dets.boxes_input, strict=True):
        x1, y1, x2, y2 = (float(v) for v in box_in)
        px1, py1 = max(int(x1 / scale_x) - 1, 0), max(int(y1 / scale_y) - 1, 0)
        px2, py2 = min(int(np.ceil(x2 / scale_x)) + 1, proto_w), min(int(np.ceil(y2 / scale_y)) + 1, proto_h)
        if px2 <= px1 or py2 <= py1:
            polygons.append(None)
            continue
        window = (coeff @ flat).reshape(proto_h, proto_w)[py1:py2, px1:px2]
        up_w, up_h = round((px2 - px1) * scale_x), round((py2 - py1) * scale_y)
        logits = cv2.resize(window.astype(np.float32), (up_w, up_h), interpolation=cv2.INTER_LINEAR)
        mask = (logits > 0).astype(np.uint8)  # sigmoid > 0.5
        # Crop to the box, as ultralytics does: a mask never leaks outside its detection.
        ox, oy = px1 * scale_x, py1 * scale_y
        mask[:, : max(round(x1 - ox), 0)] = 0
        mask[: max(round(y1 - oy), 0), :] = 0
        mask[:, max(round(x2 - ox), 0):] = 0
        mask[max(round(y2 - oy), 0):, :] = 0
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            polygons.append(None)
            continue
        outline = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float32)
        if len(outline) < 3:
            polygons.append(None)
            continue
        outline[:, 0] += ox
        outline[:, 1] += oy
        polygons.append(to_frame_points(outline, box))
    return polygons


def to_frame_points(points: np.ndarray, box: Letterbox) -> np.ndarray:
    out = points.copy()
    out[:, 0] = ((out[:, 0] - box.pad_x) / box.ratio).clip(0, box.src_w)
    out[:, 1] = ((out[:, 1] - box.pad_y) / box.ratio).clip(0, box.src_h)
    if box.flip:
        out = unflip_points(out, box.flip, box.src_w, box.src_h)
    out[:, 0] += box.offset_x
    out[:, 1] += box.offset_y
    return out
