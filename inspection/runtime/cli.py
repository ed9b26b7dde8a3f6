"""`station bench`: measure the station pipeline against a naive predict loop and the raw backend."""

from __future__ import annotations

from pathlib import Path

import click

from inspection.plugin_cli import RegistryChoice

__all__ = ["bench"]


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
              help="Parts for the sporadic-trigger latency run (0 = skip).")
def bench(model: Path | None, images: Path | None, imgsz: int | None, backend: str, precision: str, frames: int,
          int8: bool, sporadic: int) -> None:
    """Benchmark (a) ultralytics predict, (b) backend raw forward, (c) the full station pipeline.

    Ends with `pipeline/naive = X.XX` and `pipeline/raw = Y.YY` (throughput ratios, same run, same images).
    """
    from inspection.runtime.bench import run_bench

    result = run_bench(model, images, imgsz, backend, frames, sporadic, precision,
                       echo=lambda line: click.echo(line, err=True), int8=int8)
    for line in result.lines():
        click.echo(line)
