"""`station anomaly …`: fit, evaluate and export good-only anomaly models.

    station anomaly fit --good DIR --out MODEL.npz [--imgsz N] [--fixed-size|--any-size]
    station anomaly eval --model MODEL --good DIR --bad DIR [--masks DIR]
    station anomaly export --model MODEL.npz --format onnx|openvino
    station anomaly export --model MODEL.npz --format openvino --int8 --calibration GOOD --good DIR --bad DIR
"""

from __future__ import annotations

from pathlib import Path

import click

from inspection.errors import DataError, StationError
from training.anomaly_int8 import DEFAULT_RATE_TOLERANCE, DEFAULT_TOLERANCE
from training.progress import quiet_option

__all__ = ["anomaly"]

_dir = click.Path(exists=True, file_okay=False, path_type=Path)


@click.group()
def anomaly() -> None:
    """Anomaly models trained on good parts only (PatchCore on EfficientNet-Lite0)."""


@anomaly.command()
@quiet_option
@click.option("--good", required=True, type=_dir,
              help="Folder of good images (one channel count; sizes and proportions may differ).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Model file (.npz).")
@click.option("--imgsz", default=256, show_default=True, type=int, help="Network input size (multiple of 32).")
@click.option("--val-fraction", default=0.2, show_default=True, type=float,
              help="Share of the good images held out to choose the threshold.")
@click.option("--threshold-quantile", default=1.0, show_default=True, type=float,
              help="Threshold = this quantile of the held-out good scores (1.0 = their maximum).")
@click.option("--layers", default="4,10", show_default=True,
              help="EfficientNet-Lite0 blocks to take features from (2 = stride 4 for small defects, e.g. PCBs).")
@click.option("--gray", is_flag=True, help="Judge luminance only (colour changes are not defects).")
@click.option("--standardize", is_flag=True, help="Per-image contrast normalisation (lighting drifts).")
@click.option("--border-px", type=int, help="Map pixels at each edge not scored (default imgsz/16).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="CPU threads.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split and the coreset.")
@click.option("--fixed-size/--any-size", default=None,
              help="Bind the model to the good images' one size (frames of another size are refused) or take "
                   "any size. Default: fixed when all good images share one size, else any.")
@click.option("--aspect", type=click.Choice(["stretch", "windows"]), default="stretch", show_default=True,
              help="How an image that is not square reaches the square network input: stretch it whole (one "
                   "pass), or score square windows of its short side (texture keeps its proportions; a 4:3 "
                   "image takes 2 passes).")
def fit(good: Path, out: Path, imgsz: int, val_fraction: float, threshold_quantile: float, layers: str, gray: bool,
        standardize: bool, border_px: int | None, threads: int, seed: int, fixed_size: bool | None,
        aspect: str) -> None:
    """Fit an anomaly model on a folder of good images; the threshold is stored in the model."""
    import torch

    from training.anomaly import FitConfig, fit_folder

    torch.set_num_threads(threads)
    try:
        blocks = tuple(int(b) for b in layers.split(","))
    except ValueError:
        raise DataError(f"--layers: expected block numbers like 4,10, got {layers!r}") from None
    config = FitConfig(imgsz=imgsz, val_fraction=val_fraction, threshold_quantile=threshold_quantile, seed=seed,
                       layers=blocks, gray=gray, standardize=standardize, border_px=border_px, fixed_size=fixed_size,
                       aspect=aspect)
    report = fit_folder(good, out, config)
    meta = report.model.meta
    click.echo(f"fitted {out} on {report.n_fit} good images ({meta.shape_text}), {report.n_val} held out")
    click.echo(f"  memory bank   {report.model.memory_bank.shape[0]} patches × {report.model.memory_bank.shape[1]}")
    click.echo(f"  threshold     {meta.threshold:.4g}  ({meta.threshold_rule})")
    click.echo(f"  good scores   median {meta.score_median:.4g}, max {report.val_scores.max():.4g}")
    click.echo(f"  fit time      {report.fit_s:.1f} s")
    if meta.metrics.get("aspect_ratios", 1.0) > 1 and meta.aspect == "stretch":  # docs/models.md: costs AUROC
        click.echo(f"  note: the good images have {meta.metrics['aspect_ratios']:.0f} aspect ratios and each is "
                   f"stretched to a square, which can blur the threshold: compare with --aspect windows on "
                   f"held-out images (`station anomaly eval`)")
    elif meta.aspect == "windows":
        click.echo("  aspect        windows: images that are not square are scored in square windows of their "
                   "short side (a 4:3 image takes 2 network passes)")


@anomaly.command("eval")
@quiet_option
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Anomaly model (.npz, .onnx or .xml).")
@click.option("--good", required=True, type=_dir, help="Folder of good images (not used in the fit).")
@click.option("--bad", required=True, type=_dir, help="Folder of defective images.")
@click.option("--masks", type=_dir, help="Folder of defect masks, one per bad image with the same file stem "
              "(nonzero = defect): adds pixel-level AUROC.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="CPU threads.")
def eval_command(model_path: Path, good: Path, bad: Path, masks: Path | None, threads: int) -> None:
    """Image-level (and with --masks pixel-level) AUROC, escape and false-reject rates at the model's threshold."""
    from inspection.anomaly.runtime import AnomalyRuntime
    from training.anomaly import evaluate, read_folder, read_masks

    runtime = AnomalyRuntime(model_path, threads=threads)
    try:
        channels = runtime.meta.channels
        _, good_images = read_folder(good, 1, "good images", channels=channels)
        bad_paths, bad_images = read_folder(bad, 1, "bad images", channels=channels)
        bad_masks = read_masks(masks, bad_paths) if masks is not None else None
        try:
            report = evaluate(runtime, good_images, bad_images, bad_masks)
        except DataError as exc:
            raise DataError(f"{exc} (model {model_path})") from None
    finally:
        runtime.close()
    click.echo(f"anomaly model {runtime.model_id} ({runtime.backend}), threshold rule: {runtime.meta.threshold_rule}")
    width = max(len(name) for name, _ in report.rows())
    click.echo(f"{'metric':<{width}}  value")
    click.echo(f"{'-' * width}  {'-' * 40}")
    for name, value in report.rows():
        click.echo(f"{name:<{width}}  {value}")


@anomaly.command("export")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Anomaly model (.npz).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "openvino"]), default="onnx", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Target file (.onnx or .xml).")
@click.option("--int8", is_flag=True, help="Also write <out>_int8.xml: the feature extractor in INT8 (NNCF, OpenVINO "
              "only), kept only if on --good/--bad image AUROC drops by at most --tolerance and the escape and "
              "false-reject rates rise by at most --rate-tolerance.")
@click.option("--calibration", type=_dir, help="--int8: folder of good images to calibrate on (the fit's own).")
@click.option("--good", type=_dir, help="--int8: held-out good images (not fitted on) for the AUROC gate.")
@click.option("--bad", type=_dir, help="--int8: held-out defective images for the AUROC gate.")
@click.option("--tolerance", default=DEFAULT_TOLERANCE, show_default=True, type=click.FloatRange(0, 1),
              help="--int8: largest image-AUROC drop (absolute) accepted against the float32 export.")
@click.option("--rate-tolerance", default=DEFAULT_RATE_TOLERANCE, show_default=True, type=click.FloatRange(0, 1),
              help="--int8: largest rise of the escape or the false-reject rate at the model's threshold.")
def export_command(model_path: Path, fmt: str, out: Path | None, int8: bool, calibration: Path | None,
                   good: Path | None, bad: Path | None, tolerance: float, rate_tolerance: float) -> None:
    """Export the feature extractor + scoring (threshold inside) for onnxruntime or OpenVINO."""
    import numpy as np

    from inspection.anomaly.runtime import AnomalyRuntime
    from training.anomaly_export import export_anomaly

    if int8 and fmt != "openvino":
        raise click.UsageError("--int8 is for --format openvino (NNCF); export the float32 ONNX without it")
    if int8 and (calibration is None or good is None or bad is None):
        raise click.UsageError("--int8 needs --calibration (good images to calibrate on) and --good/--bad "
                               "(held-out images for the AUROC gate)")
    target = export_anomaly(model_path, fmt, out)  # type: ignore[arg-type]
    # check the export against the original on a synthetic image before anyone relies on it
    source, exported = AnomalyRuntime(model_path), AnomalyRuntime(target)
    image = np.random.default_rng(0).integers(0, 256, source.meta.sample_shape(), dtype=np.uint8)
    a, b = source.analyse(image).score, exported.analyse(image).score
    if abs(a - b) > 1e-3 * max(1.0, abs(a)):
        raise StationError(f"{target}: exported score {b:.6g} differs from the original {a:.6g}; do not use it")
    click.echo(f"wrote {target} (score check: {a:.6g} vs {b:.6g})")
    if int8:
        from training.anomaly import read_folder
        from training.anomaly_int8 import export_anomaly_int8

        channels = source.meta.channels
        calib = read_folder(calibration, 1, "calibration images", channels=channels)[1]  # type: ignore[arg-type]
        held_good = read_folder(good, 2, "held-out good images", channels=channels)[1]  # type: ignore[arg-type]
        held_bad = read_folder(bad, 2, "held-out defective images", channels=channels)[1]  # type: ignore[arg-type]
        report = export_anomaly_int8(target, calib, held_good, held_bad, tolerance, rate_tolerance)
        for line in report.lines():
            click.echo(line)
