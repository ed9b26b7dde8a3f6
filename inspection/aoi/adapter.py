"""Detector adapter `kind: aoi`: the AOI board inspection behind the station's Detector port.

```yaml
detector:
  kind: aoi
  placements: board.csv          # centroid file (docs/aoi.md lists the accepted columns)
  library: packages.yaml         # package library: body + pad windows, checks
  board: {px_per_mm: 20, origin_px: [40, 560]}
  align: fiducials               # or features (ORB+ECC to the golden board) or nominal
  golden: {reference: golden.png}
```

Each Detection carries `attributes["refdes"]` (+ `"pin"` for joints, `"check"`), so the store keeps
verdicts per reference designator. A board that cannot be inspected raises (DataError naming the part);
the station gives it the recipe's fail-safe verdict, never a pass.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Literal

from inspection.aoi.inspector import BoardInspector, BoardResult, InspectorOptions
from inspection.config import AdapterOptions
from inspection.domain.types import Frame
from inspection.inference import DetectorOutput, file_sha256

__all__ = ["AoiDetector", "Options", "create"]


class Options(AdapterOptions, InspectorOptions):
    kind: Literal["aoi"] = "aoi"


def create(options: Options, **_: Any) -> AoiDetector:
    return AoiDetector(options)


class AoiDetector:
    task = "detect"

    def __init__(self, options: Options) -> None:
        self.options = options
        self.inspector = BoardInspector(options)
        self.class_names = self.inspector.class_names
        self.model_id = _model_id(options, self.inspector)
        self.last_result: BoardResult | None = None
        self._lock = threading.Lock()

    def warmup(self, frame: Frame, runs: int = 1) -> None:
        """Warm the joint classifier (the blank warm-up frame has no fiducials to align to)."""
        if self.inspector.classifier is not None:
            for _ in range(runs):
                self.inspector.classifier.predict([frame.image[:32, :32]])

    def detect(self, frame: Frame) -> DetectorOutput:
        t0 = time.perf_counter()
        with self._lock:
            result = self.inspector.inspect(frame.image)
            self.last_result = result
        total = (time.perf_counter() - t0) * 1000.0
        align_ms = result.timings_ms.get("align_ms", 0.0)
        return DetectorOutput(result.detections, preprocess_ms=align_ms, infer_ms=total - align_ms)

    def close(self) -> None:
        self.last_result = None


def _model_id(options: Options, inspector: BoardInspector) -> str:
    """`aoi@<hash>` of everything that decides the result: placements, library, classifier, reference."""
    import hashlib

    digest = hashlib.sha256()
    files: list[Path] = [options.placements, options.library]
    if inspector.classifier is not None:
        files.append(inspector.classifier.path)
    if options.golden is not None:
        files.append(options.golden.reference)
    for path in files:
        digest.update(file_sha256(path).encode())
    return f"aoi@{digest.hexdigest()[:12]}"
