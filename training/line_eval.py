"""Evaluate what the line runs: the deployed model file through the station's own detector adapter and the
recipe's judge, so the escape and false-reject rates are the ones the station applies.

`station eval --recipe R` (or `--config station.yaml`) takes this path. The model file picks the runtime the
way a station config would (`.pt` → `kind: ultralytics`, `.onnx` → `onnx`, INT8 ONNX included, `.xml` →
`openvino`, `.engine` → `tensorrt`; `--runtime` overrides, `--config` takes the station's own `detector:`).
The split's images are read by the replay camera (`inspection.camera.replay`: same decoding, size limits and
pixel format as `station run` on that folder); each part goes through `detector.detect` and the recipe's
`Judge` (confidence, area/length and ROI rules, zones, tiling as the detector does it) and becomes an
`Inspection` through `inspection.runtime.verdicts`, the one definition the runtime uses too. A part that
cannot be decoded or inspected gets the recipe's fail-safe verdict, as on the line. Not applied: the
deadline (eval measures accuracy, not timing) and process feedback.

mAP is computed from the same detections, i.e. down to the detector's confidence floor (`conf`, 0.05 by
default) rather than ultralytics' 0.001: the mAP of what the line sees, a little below ultralytics' own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspection.domain.recipe import Recipe
from inspection.domain.types import Frame, FrameFailure, Inspection

if TYPE_CHECKING:
    from training.evaluate import EvalReport

__all__ = ["RUNTIME_BY_SUFFIX", "LineSetup", "evaluate_line", "inspect_folder", "labels_of", "line_setup",
           "runtime_for"]

RUNTIME_BY_SUFFIX = {".pt": "ultralytics", ".onnx": "onnx", ".xml": "openvino", ".engine": "tensorrt"}


@dataclass(frozen=True)
class LineSetup:
    """What `station run` would build for one recipe: detector options, recipe, camera id and pixel format."""

    detector: Any  # the detector's validated AdapterOptions
    recipe: Recipe
    recipe_model: Path | None  # the recipe's own model file: an export is checked against its classes
    camera: Any  # replay camera options (path filled in per folder)
    calibrations_dir: Path | None = None

    @property
    def runtime(self) -> str:
        return str(self.detector.kind)


def runtime_for(model: Path) -> str:
    """The detector kind that runs a model file, by its suffix."""
    kind = RUNTIME_BY_SUFFIX.get(model.suffix.lower())
    if kind is None:
        raise ValueError(f"{model}: cannot tell which runtime runs a {model.suffix or 'suffix-less'} file; "
                         f"expected one of {', '.join(RUNTIME_BY_SUFFIX)} or give --runtime")
    return kind


def line_setup(model: str | Path | None = None, recipe: str | Path | None = None, config: str | Path | None = None,
               runtime: str | None = None, device: str | None = None, imgsz: int | None = None) -> LineSetup:
    """The detector and judge of a station config (`config`) or of a recipe plus a model file.

    With `config`, its `detector:` runs (a `model` given here replaces the file it names) and its first
    camera's id and pixel format are used; `recipe` replaces the config's recipe. Without, `runtime` (default:
    by the model's suffix) with the adapter's default options; `device` and `imgsz` where the adapter takes them."""
    from inspection.adapters.registry import adapter_module
    from inspection.camera.replay import Options as ReplayOptions
    from inspection.config import load_station_config
    from inspection.domain.recipe import load_recipe

    station = load_station_config(config) if config is not None else None
    recipe_path = Path(recipe) if recipe is not None else (station.recipe if station is not None else None)
    if recipe_path is None:
        raise ValueError("the line's judge needs a recipe: give --recipe or --config")
    loaded = load_recipe(recipe_path)
    model_path = Path(model).resolve() if model is not None else None
    if station is not None and runtime is None:
        options = station.detector
        if model_path is not None:
            if not hasattr(options, "model"):
                raise ValueError(f"{config}: detector kind {options.kind!r} takes no model file; leave out --model")
            options = options.model_copy(update={"model": model_path})
        elif getattr(options, "model", None) is None and loaded.model is None:
            raise ValueError(f"{recipe_path}: the recipe names no model file (registry_product?); give --model")
    else:
        if model_path is None and loaded.model is None:
            raise ValueError(f"{recipe_path}: the recipe names no model file (registry_product?); give --model")
        # no --model: the recipe's own, or with --runtime the export of it that kind reads (beside the .pt)
        kind = runtime or runtime_for(model_path or loaded.model)  # type: ignore[arg-type]
        raw: dict[str, Any] = {"kind": kind, "model": model_path}
        if kind == "ultralytics" or (kind == "onnx" and device in ("auto", "cpu", "cuda")):
            raw["device"] = device or "auto"
        if kind == "ultralytics" and imgsz is not None:
            raw["imgsz"] = imgsz
        options = adapter_module("detector", kind).Options.model_validate(raw)
    camera = _camera_options(station.cameras[0] if station is not None else None, ReplayOptions)
    return LineSetup(options, loaded, loaded.model, camera, station.calibrations_dir if station else None)


def _camera_options(camera: Any, replay_options: Any) -> Any:
    """Replay options carrying the station camera's id, pixel format and image limits."""
    if camera is not None and camera.kind == "replay":
        return camera.model_copy(update={"loop": False, "rate_hz": None, "max_parts": None, "timing": None})
    raw: dict[str, Any] = {"kind": "replay", "path": Path("."), "id": getattr(camera, "id", None) or "cam0"}
    if getattr(camera, "pixel_format", None) in ("bgr8", "mono8"):
        raw["pixel_format"] = camera.pixel_format
    return replay_options.model_validate(raw)


def inspect_folder(setup: LineSetup, folder: Path, expected: int | None = None,
                   read_timeout_s: float = 5.0) -> dict[str, Inspection]:
    """Every image of `folder` (sorted by name, as the replay camera reads it) inspected as on the line,
    keyed by file name. `expected` sizes the progress bar."""
    from inspection.adapters.registry import create_adapter
    from inspection.aoi.part_align import align_part
    from inspection.camera import EndOfStream
    from inspection.domain.judge import Judge
    from inspection.domain.measure import scales_for
    from inspection.inference import create_detector
    from training.progress import bar

    recipe = setup.recipe
    camera = create_adapter("camera", setup.camera.model_copy(update={"path": Path(folder)}))
    judge = Judge(recipe, scales_for(recipe, [setup.camera.id], setup.calibrations_dir), align=align_part)
    detector = create_detector(setup.detector, recipe, setup.recipe_model)
    results: dict[str, Inspection] = {}
    try:
        recipe.check_classes(detector.class_names, detector.model_id)
        camera.open()
        with bar(f"inspecting ({setup.runtime})", expected or 0) as advance:
            while True:
                try:
                    item = camera.read(read_timeout_s)
                except EndOfStream:
                    break
                if item is None:
                    raise TimeoutError(f"replay camera gave no image of {folder} within {read_timeout_s} s")
                results[Path(str(item.source)).name] = _inspect(detector, judge, item)
                advance(1)
    finally:
        camera.close()
        detector.close()
    return results


def _inspect(detector: Any, judge: Any, item: Frame | FrameFailure) -> Inspection:
    """`Station.inspect` without the deadline: a part that cannot be inspected gets the fail-safe verdict."""
    from inspection.runtime.verdicts import failsafe_inspection, judged_inspection, timed_judgement

    model_id = detector.model_id
    if isinstance(item, FrameFailure):
        return failsafe_inspection(judge, item, item.code, item.message, model_id)
    try:
        t0 = time.perf_counter()
        out = detector.detect(item)
        judgement, judge_ms = timed_judgement(judge, out, item)
    except Exception as exc:  # the line logs it as a fail-safe verdict; so does eval
        return failsafe_inspection(judge, item, "inspection_error", f"{type(exc).__name__}: {exc}", model_id)
    return judged_inspection(judge, item, out, judgement, judge_ms, model_id, 0.0,
                             latency_ms=(time.perf_counter() - t0) * 1000.0)


def labels_of(inspection: Inspection, class_ids: Mapping[str, int]) -> Any:
    """The model's detections of a part as `Labels` for mAP: the data set's classes only (not `anomaly`)."""
    from training.evaluate import Labels

    found = [d for d in inspection.detections if d.class_name in class_ids and d.source != "anomaly"]
    if not found:
        return Labels.empty()
    return Labels.of([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in found],
                     [class_ids[d.class_name] for d in found], [d.confidence for d in found])


def evaluate_line(data_yaml: str | Path, setup: LineSetup, split: str = "test", out_dir: str | Path | None = None,
                  keep_predictions: bool = False) -> EvalReport:
    """`training.evaluate.evaluate` for what the line runs: every metric from the station's detector, the
    escape and false-reject rates from the recipe judge's verdicts (REVIEW and fail-safe ERROR reject)."""
    from training.evaluate import ImageResult, compute_metrics, load_split, thresholds_of, write_report

    images, truths, names = load_split(data_yaml, split)
    if not images:
        raise ValueError(f"{data_yaml}: split {split!r} has no images")
    folders = {p.parent for p in images}
    if len(folders) != 1:
        raise ValueError(f"{data_yaml}: split {split!r} spans several folders; the replay camera reads one")
    inspected = inspect_folder(setup, folders.pop(), len(images))
    missing = [p.name for p in images if p.name not in inspected]
    if missing:
        raise ValueError(f"the replay camera did not deliver {len(missing)} image(s) of the split: {missing[:5]}")
    parts = [inspected[p.name] for p in images]
    class_ids = {name: i for i, name in names.items()}
    preds = [labels_of(part, class_ids) for part in parts]
    thresholds = {k: v for k, v in thresholds_of(setup.recipe).items() if k == "default" or k in class_ids}
    report, per_image, curves = compute_metrics(truths, preds, names, thresholds,
                                                image_names=[p.name for p in images])
    judged = []
    for result, part in zip(per_image, parts, strict=True):
        flagged = part.verdict.status.rejects
        outcome = {(True, True): "ok-reject", (True, False): "escape", (False, True): "false-reject",
                   (False, False): "ok-pass"}[(result.defective, flagged)]
        judged.append(ImageResult(result.image, result.defective, flagged, outcome, result.truth,
                                  len(part.defects), str(part.verdict.status)))
    defective = sum(r.defective for r in judged)
    good = len(judged) - defective
    report.escape_rate = sum(r.outcome == "escape" for r in judged) / defective if defective else None
    report.false_reject_rate = sum(r.outcome == "false-reject" for r in judged) / good if good else None
    report.failsafe_parts = sum(part.verdict.failsafe for part in parts)
    report.runtime = f"{setup.runtime} via the station's detector adapter, judged by recipe {setup.recipe.name}"
    report.model_id = parts[0].model_id
    report.model = str(getattr(setup.detector, "model", None) or report.model_id)  # the export beside the .pt
    report.data, report.split = str(data_yaml), split
    model_name = report.model_id.partition("@")[0]
    out = Path(out_dir) if out_dir else Path("runs") / "eval" / f"{model_name}-{setup.runtime}-{split}"
    write_report(report, judged, curves, out)
    if keep_predictions:
        report.predictions = (truths, preds, names)
    return report
