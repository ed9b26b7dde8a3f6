"""Export the bundled demo models to ONNX (what the lean line install runs) and check them against the originals.

    python -m training.export_demo            # writes inspection/demo/models/*.onnx, appends to the cards

For each demo product the .pt YOLO model (torch, ultralytics) and, for paint, the .npz anomaly model
(torch) are exported with the station's own exporters (metadata embedded, verified on tensors), then
both the original and the exported detector run over every bundled demo part: the verdicts must be
identical and the detection confidences within `TOLERANCE`. The result is appended to each model card.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import cv2

from inspection.config import load_station_config
from inspection.demo import DEMO_DIR, demo_config_path
from inspection.domain.judge import Judge
from inspection.domain.recipe import load_recipe
from inspection.domain.types import Frame
from inspection.inference import create_detector

TOLERANCE = 1e-3
"""Largest confidence difference allowed between the original and the exported model on a demo part."""


def _detector(product: str, detector: dict[str, Any]) -> Any:
    config = load_station_config(demo_config_path(product), overrides={"detector": detector})
    recipe = load_recipe(config.recipe)
    return create_detector(config.detector, recipe, recipe.model), Judge(recipe)


def compare(product: str, original: dict[str, Any], exported: dict[str, Any]) -> dict[str, Any]:
    """Run both detector configurations over the product's demo parts; verdicts and max confidence gap."""
    parts = sorted(p for p in (DEMO_DIR / "parts" / product).iterdir() if p.suffix in (".jpg", ".png"))
    results = []
    for overrides in (original, exported):
        detector, judge = _detector(product, overrides)
        try:
            rows = []
            for i, path in enumerate(parts):
                out = detector.detect(Frame(cv2.imread(str(path), cv2.IMREAD_COLOR), "cam0", i, 0.0))
                verdict = judge.judge(out.detections).verdict.status.value
                rows.append((verdict, sorted((d.class_name, round(d.confidence, 6)) for d in out.detections)))
            results.append((detector.model_id, rows))
        finally:
            detector.close()
    (id_a, a), (id_b, b) = results
    same = sum(x[0] == y[0] for x, y in zip(a, b, strict=True))
    gap = 0.0
    for (_, da), (_, db) in zip(a, b, strict=True):
        if [c for c, _ in da] != [c for c, _ in db]:
            gap = float("inf")
            break
        gap = max([gap, *(abs(x[1] - y[1]) for x, y in zip(da, db, strict=True))])
    return {"product": product, "parts": len(parts), "same_verdicts": same, "max_conf_gap": gap,
            "original": id_a, "exported": id_b, "verdicts": [v for v, _ in b]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-export", action="store_true", help="only compare the files already there")
    args = parser.parse_args(argv)
    from training.anomaly_export import export_anomaly
    from training.export import export_model

    models = DEMO_DIR / "models"
    if not args.no_export:
        for stem in ("solder_yolov8n", "paint_yolov8n"):
            report = export_model(models / f"{stem}.pt", "onnx", out=models / f"{stem}.onnx")
            print("\n".join(report.lines()))
        export_anomaly(models / "paint_anomaly.npz", "onnx", models / "paint_anomaly.onnx")
    checks = [
        ("solder", "solder_yolov8n", {"kind": "ultralytics"}, {"kind": "onnx"}),
        ("paint", "paint_yolov8n",
         {"kind": "combined", "detectors": [{"kind": "ultralytics"},
                                            {"kind": "anomaly", "model": str(models / "paint_anomaly.npz")}]},
         {"kind": "combined", "detectors": [{"kind": "onnx"},
                                            {"kind": "anomaly", "model": str(models / "paint_anomaly.onnx")}]}),
    ]
    ok = True
    for product, stem, original, exported in checks:
        result = compare(product, original, exported)
        good = result["same_verdicts"] == result["parts"] and result["max_conf_gap"] <= TOLERANCE
        ok &= good
        print(result)
        cards = [models / f"{stem}.md"] + ([models / "paint_anomaly.md"] if product == "paint" else [])
        note = (f"\n## Exported model (lean line install)\n\n`{Path(stem).name}.onnx`"
                + (" and `paint_anomaly.onnx`" if product == "paint" else "")
                + f" are this model exported by `python -m training.export_demo` on {dt.date.today()} "
                f"(`station export-model --format onnx` / `station anomaly export --format onnx`: metadata embedded, "
                f"verified on tensors). On the {result['parts']} bundled demo parts the exported detector gives "
                f"{result['same_verdicts']}/{result['parts']} identical verdicts, largest confidence difference "
                f"{result['max_conf_gap']:.2g} (tolerance {TOLERANCE}); originals {result['original']}, "
                f"export {result['exported']}. The demo runs the export, so it needs no torch.\n")
        for card in cards:
            text = card.read_text(encoding="utf-8")
            marker = "\n## Exported model (lean line install)\n"
            card.write_text(text.split(marker)[0].rstrip("\n") + "\n" + note, encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
