"""Build-time commands registered through the `inspection.cli` entry points (they need the torch stack).

- `station export-model`: convert a YOLO .pt to ONNX/OpenVINO, verify it, optionally quantise to INT8;
- `station bench`: measure the station pipeline against a naive predict loop and the raw backend.
"""

from __future__ import annotations

from pathlib import Path

import click

from inspection.adapters.cli import RegistryChoice
from training.progress import quiet_option

__all__ = ["bench", "export_model_command"]


@click.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YOLO .pt model (default: the bundled demo model).")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of part images (default: the bundled demo parts).")
@click.option("--imgsz", type=click.IntRange(32, 4096), help="Network input size (default 640).")
@click.option("--backend", type=RegistryChoice("detector", hook="export_from_onnx"), default="openvino",
              show_default=True, help="Inference backend for (b) and (c) (any export format).")
@click.option("--precision", type=click.Choice(["auto", "f32", "bf16"]), default="auto", show_default=True,
              help="OpenVINO inference precision (auto = bf16 on CPUs with AMX/AVX512-BF16).")
@click.option("--frames", type=click.IntRange(min=5), default=100, show_default=True, help="Frames per run.")
@click.option("--int8", is_flag=True, help="Quantize on the images first; benchmark INT8 if the gate accepts it.")
@click.option("--sporadic", type=click.IntRange(min=0), default=20, show_default=True,
              help="Parts for the sporadic-trigger latency run (c') and for the raw forward at the same rate "
                   "(b') (0 = skip).")
@click.option("--peer", "peers", type=click.Choice(["openvino", "onnx"]), multiple=True,
              default=("openvino", "onnx"), show_default=True,
              help="(d) formats ultralytics itself exports the .pt to, run in a plain predict loop.")
@click.option("--no-peer", is_flag=True, help="Skip (d).")
@click.option("--loaded", type=click.IntRange(min=0), default=100, show_default=True,
              help="Parts for the run paced at 80 % of the measured max rate (0 = skip).")
@click.option("--loaded-rate", type=click.FloatRange(min=0.1), metavar="HZ",
              help="Pace that run at this many parts/s instead (to compare two runs at one rate).")
@click.option("--keep-images", type=click.Choice(["failures", "all", "sample", "none"]), default="failures",
              show_default=True, help="Image archive policy of (c) (the station default: failures).")
@click.option("--image-format", type=click.Choice(["bmp", "png", "jpg"]), default="bmp", show_default=True,
              help="Archive format of (c) (the station default: bmp).")
@click.option("--set", "settings", metavar="KEY=VALUE", multiple=True,
              help="A detector option of (b) and (c), as under `detector:` in the station YAML "
                   "(e.g. --set requests=1 --set hint=throughput); repeatable.")
def bench(model: Path | None, images: Path | None, imgsz: int | None, backend: str, precision: str, frames: int,
          int8: bool, sporadic: int, peers: tuple[str, ...], no_peer: bool, loaded: int,
          loaded_rate: float | None, keep_images: str, image_format: str, settings: tuple[str, ...]) -> None:
    """Benchmark (a) ultralytics predict, (b) backend raw forward, (c) the full station pipeline, (d) the peer:
    ultralytics' own OpenVINO/ONNX export of the same .pt in a plain predict loop.

    Ends with `pipeline/naive = X.XX`, `pipeline/peer = Z.ZZ` (vs the fastest peer) and `pipeline/raw = Y.YY`
    (throughput ratios, same run, same images).
    """
    from training.bench import run_bench
    from training.settings import parse_setting

    try:
        detector = dict(parse_setting(setting) for setting in settings)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None
    result = run_bench(model, images, imgsz, backend, frames, sporadic, precision,
                       echo=lambda line: click.echo(line, err=True), int8=int8,
                       peers=() if no_peer else tuple(peers), loaded=loaded,
                       store={"keep_images": keep_images, "image_format": image_format}, detector=detector,
                       loaded_rate=loaded_rate)
    for line in result.lines():
        click.echo(line)


@click.command("export-model")
@quiet_option
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="YOLO .pt model to convert.")
@click.option("--format", "fmt", type=RegistryChoice("detector", hook="export_from_onnx"), default="onnx",
              show_default=True, help="Target format (every installed backend with an export hook).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Exported model file (default: beside the model).")
@click.option("--imgsz", type=click.IntRange(32, 4096), callback=lambda _c, _p, v: _multiple_of_32(v),
              help="Input size, a multiple of 32 (default: as trained).")
@click.option("--int8", is_flag=True, help="Also make an INT8 model, kept only within --tolerance.")
@click.option("--calibration", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Recipe images to calibrate INT8 on (and to verify the export on).")
@click.option("--golden", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Golden set for the INT8 accuracy gate (default: the calibration images).")
@click.option("--tolerance", type=click.FloatRange(0.0, 1.0), default=0.02, show_default=True,
              help="Max F1 drop of INT8 vs FP32 on the golden set.")
@click.option("--accuracy-control/--no-accuracy-control", default=True, show_default=True,
              help="OpenVINO INT8: let NNCF put layers back to float until the golden-set F1 drop is within "
                   "--tolerance (minutes on a small CPU when it has to); the gate applies either way.")
@click.option("--dynamic-batch", is_flag=True,
              help="Variable batch, so the runtime can batch frames of several cameras/tiles.")
def export_model_command(model: Path, fmt: str, out: Path | None, imgsz: int | None, int8: bool,
                         calibration: Path | None, golden: Path | None, tolerance: float, accuracy_control: bool,
                         dynamic_batch: bool) -> None:
    """Convert a YOLO model to ONNX/OpenVINO and verify the export against the original."""
    from training.export import export_model

    report = export_model(model, fmt, imgsz=imgsz, out=out, samples=calibration, int8=int8,
                          calibration=calibration, golden=golden, tolerance=tolerance, dynamic=dynamic_batch,
                          accuracy_control=accuracy_control)
    for line in report.lines():
        click.echo(line)


def _multiple_of_32(imgsz: int | None) -> int | None:
    """YOLO's input is a multiple of its largest stride; ultralytics would round 33 to 64 without a word."""
    if imgsz is not None and imgsz % 32:
        raise click.BadParameter(f"{imgsz} is not a multiple of 32 (try {max(32, round(imgsz / 32) * 32)})",
                                 param_hint="--imgsz")
    return imgsz
