"""The shipped paint segmenter (mask branch trained on the frozen paint box model) detects as the box model does,
and adds an outline to its detections: the lean ONNX path, over the bundled demo parts."""

from __future__ import annotations

import cv2
import pytest

from inspection.adapters.registry import adapter_module
from inspection.demo import DEMO_DIR
from inspection.domain.types import Frame

MODELS = DEMO_DIR / "models"


def _detect(model: str) -> list[list[tuple[str, float, tuple[float, ...], bool]]]:
    module = adapter_module("detector", "onnx")
    detector = module.create(module.Options(kind="onnx", model=MODELS / model, conf=0.05))
    try:
        parts = sorted(p for p in (DEMO_DIR / "parts" / "paint").iterdir() if p.suffix in (".jpg", ".png"))
        rows = []
        for i, path in enumerate(parts):
            out = detector.detect(Frame(cv2.imread(str(path), cv2.IMREAD_COLOR), "cam0", i, 0.0))
            rows.append(sorted((d.class_name, d.confidence, (d.box.x1, d.box.y1, d.box.x2, d.box.y2),
                                d.polygon is not None) for d in out.detections))
        return rows
    finally:
        detector.close()


def test_the_paint_segmenter_detects_as_the_box_model_and_adds_outlines() -> None:
    boxes, masks = _detect("paint_yolov8n.onnx"), _detect("paint_seg_yolov8n.onnx")
    assert sum(map(len, boxes)) > 10  # the comparison is over real detections
    for by_box, by_mask in zip(boxes, masks, strict=True):
        assert [d[0] for d in by_mask] == [d[0] for d in by_box]
        for b, m in zip(by_box, by_mask, strict=True):
            assert m[1] == pytest.approx(b[1], abs=1e-3)
            assert m[2] == pytest.approx(b[2], abs=0.05)
        assert not any(d[3] for d in by_box)
    with_outline = [d[3] for row in masks for d in row]
    assert sum(with_outline) >= 0.9 * len(with_outline)
