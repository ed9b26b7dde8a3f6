"""``station train`` and ``station eval``: thin click mirrors of ``training.train`` and ``training.evaluate``.

The core CLI registers these through the ``inspection.cli`` entry point group; library errors become clean
messages with the station's exit codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from training.progress import quiet_logger, quiet_option

if TYPE_CHECKING:
    from training.evaluate import EvalReport

__all__ = ["eval_command", "train", "train_command"]


def _thresholds(conf: float, class_conf: tuple[str, ...]) -> float | dict[str, float]:
    if not class_conf:
        return conf
    table: dict[str, float] = {"default": conf}
    for item in class_conf:
        name, _, value = item.partition("=")
        try:
            table[name.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(f"expected CLASS=CONF, got {item!r}", param_hint="--class-conf") from None
    return table


@click.command("eval")
@quiet_option
@click.option("--data", "data_yaml", required=True, type=click.Path(exists=True, dir_okay=False), help="YOLO data.yaml")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="model file as deployed: .pt, .onnx (INT8 too), OpenVINO .xml, TensorRT .engine "
                   "(default with --config/--recipe: the recipe's model, or the export the config runs)")
@click.option("--split", default="test", show_default=True, help="split of the data set to evaluate")
@click.option("--conf", default=0.25, show_default=True, help="confidence threshold of a reject (recipe default)")
@click.option("--class-conf", multiple=True, metavar="CLASS=CONF", help="per-class threshold, repeatable")
@click.option(
    "--recipe", type=click.Path(exists=True, dir_okay=False), default=None,
    help="judge as the line does: this recipe's judge over the model run by the station's detector adapter"
)
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="station YAML: evaluate with its detector (runtime, options), recipe and camera pixel format")
@click.option("--runtime", type=click.Choice(["ultralytics", "onnx", "openvino", "tensorrt"]), default=None,
              help="detector kind that runs --model (default: by its suffix, or the config's detector)")
@click.option("--imgsz", type=int, default=None, help="inference size (default: the model's training size)")
@click.option("--device", default="auto", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="report folder")
@click.option("--baseline", "baseline_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="production model to compare with on the same split and thresholds")
@click.option("--tune-escape", type=click.FloatRange(0.0, 1.0), default=None, metavar="RATE",
              help="also pick thresholds that keep the escape rate within RATE with the fewest false rejects "
                   "(use --split val); with --recipe, writes a tuned copy of the recipe into the report")
@click.option("--max-class-miss", type=click.FloatRange(0.0, 1.0), default=0.25, show_default=True,
              help="with --tune-escape: each class must still be found on all but this share of its images")
@click.option("--size-recipe", type=click.Path(exists=True, dir_okay=False), multiple=True,
              help="also judge by size under this recipe (zones, mm limits; repeatable): size errors against the "
                   "ground-truth outlines and escape / false-reject rates of the recipe's verdicts")
@click.option("--calibration", "calibration_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="with --size-recipe: calibration file to measure with (default: the recipe's pixel_size_mm)")
def eval_command(
    data_yaml: str,
    model_path: str | None,
    split: str,
    conf: float,
    class_conf: tuple[str, ...],
    recipe: str | None,
    config_path: str | None,
    runtime: str | None,
    imgsz: int | None,
    device: str,
    out_dir: str | None,
    baseline_path: str | None,
    tune_escape: float | None,
    max_class_miss: float,
    size_recipe: tuple[str, ...],
    calibration_path: str | None,
) -> None:
    """Evaluate a model on a data set split: mAP, per-class P/R, escape and false-reject rates.

    With --recipe or --config it evaluates what the line runs: the model file through the station's own
    detector adapter (ONNX, OpenVINO, INT8 …) and the recipe's judge (thresholds, area and ROI rules, tiling),
    so the escape and false-reject rates are the station's verdicts. With --baseline, the production model is
    evaluated the same way and a comparison table follows. With --tune-escape, the thresholds that meet an
    escape-rate target on this split are proposed."""
    from training.evaluate import comparison_table, evaluate, metrics_table, thresholds_from_recipe, thresholds_of
    if tune_escape is not None and split == "test":
        click.echo("warning: tuning thresholds on the test split makes its numbers optimistic; use --split val",
                   err=True)
    line = recipe is not None or config_path is not None
    if not line and (model_path is None or runtime is not None or Path(model_path).suffix.lower() != ".pt"):
        raise click.UsageError("without --recipe or --config give a .pt --model (ultralytics' own predictor); "
                               "an exported model is evaluated through the station: add --recipe or --config")
    try:
        if line:
            from training.line_eval import evaluate_line, line_setup

            setup = line_setup(model_path, recipe, config_path, runtime, device, imgsz)
            thresholds: float | dict[str, float] = thresholds_of(setup.recipe)
            report = evaluate_line(data_yaml, setup, split, out_dir, keep_predictions=tune_escape is not None)
            model_path = report.model
        else:
            assert model_path is not None
            thresholds = thresholds_from_recipe(recipe) if recipe else _thresholds(conf, class_conf)
            report = evaluate(data_yaml, model_path, split, thresholds, out_dir, imgsz, device,
                              keep_predictions=tune_escape is not None)
        baseline = None
        if baseline_path is not None:
            baseline_dir = str(Path(report.out_dir) / "baseline")
            if line:
                from training.line_eval import runtime_for

                # the baseline's own file type decides its runtime unless it is of the candidate's type
                same = Path(baseline_path).suffix.lower() == Path(str(model_path)).suffix.lower()
                base = line_setup(baseline_path, recipe, config_path,
                                  runtime if same else runtime_for(Path(baseline_path)), device, imgsz)
                baseline = evaluate_line(data_yaml, base, split, baseline_dir)
            else:
                baseline = evaluate(data_yaml, baseline_path, split, thresholds, baseline_dir, imgsz, device)
    except (ValueError, OSError) as exc:  # a StationError goes on to the CLI, which maps it to its exit code
        raise click.ClickException(str(exc)) from exc
    click.echo(metrics_table(report))
    if baseline is not None:
        comparison = comparison_table(report, baseline)
        (Path(report.out_dir) / "comparison.md").write_text(comparison)
        click.echo(comparison)
    if tune_escape is not None:
        _tune(report, tune_escape, thresholds, recipe, max_class_miss)
    if size_recipe:
        assert model_path is not None
        _sizes(data_yaml, model_path, split, size_recipe, calibration_path, imgsz, device, Path(report.out_dir))
    click.echo(f"report: {report.out_dir}")


def _sizes(data_yaml: str, model_path: str, split: str, recipes: tuple[str, ...], calibration: str | None,
           imgsz: int | None, device: str, out: Path) -> None:
    from inspection.domain.recipe import load_recipe
    from inspection.errors import StationError
    from training.evaluate import _model_imgsz
    from training.size_eval import (
        evaluate_sizes,
        load_outlines,
        predict_outlines,
        scale_for_eval,
        size_table,
        write_size_report,
    )
    from training.train import resolve_device

    try:
        images, truths, _ = load_outlines(data_yaml, split)
        preds = predict_outlines(model_path, images, imgsz or _model_imgsz(model_path), resolve_device(device))
        for path in recipes:
            recipe = load_recipe(path)
            report = evaluate_sizes(recipe, truths, preds, images, scale_for_eval(recipe, calibration))
            write_size_report(report, out / f"sizes-{Path(path).stem}")
            click.echo(size_table(report))
    except (ValueError, OSError, StationError) as exc:
        raise click.ClickException(str(exc)) from exc


def _tune(report: EvalReport, max_escape: float, thresholds: float | dict[str, float], recipe: str | None,
          max_class_miss: float) -> None:
    from training.thresholds import tune_thresholds, tuned_recipe, tuning_table

    assert report.predictions is not None, "evaluate(keep_predictions=True) keeps them"
    truths, preds, names = report.predictions
    ignored = [name for name, value in thresholds.items() if value > 1.0] if isinstance(thresholds, dict) else []
    tuning = tune_thresholds(truths, preds, names, max_escape, ignored=ignored, max_class_miss=max_class_miss)
    table = tuning_table(tuning)
    out = Path(report.out_dir)
    (out / "thresholds.md").write_text(table)
    click.echo(table)
    if recipe:
        click.echo(f"tuned recipe: {tuned_recipe(recipe, tuning, out / ('tuned-' + Path(recipe).name))}")


@click.command("train")
@quiet_option
@click.option("--data", "data_yaml", type=click.Path(dir_okay=False), default=None, help="YOLO data.yaml")
@click.option("--synthetic", type=click.Choice(["solder", "paint"]), default=None, help="render a synthetic set")
@click.option("--n-train", default=500, show_default=True, help="synthetic training images")
@click.option("--n-val", default=100, show_default=True, help="synthetic validation images")
@click.option("--n-test", default=150, show_default=True, help="synthetic held-out images")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="where the model goes")
@click.option("--model-cfg", default="yolov8n.yaml", show_default=True,
              help="architecture YAML (from scratch), a .pt checkpoint to continue from, or efficientnet-lite0 "
                   "(the ImageNet EfficientNet-Lite0 trunk that ships offline, YOLOv8n neck and head)")
@click.option("--task", type=click.Choice(["detect", "segment"]), default="detect", show_default=True)
@click.option("--epochs", default=30, show_default=True)
@click.option("--imgsz", default=320, show_default=True)
@click.option("--batch", default=16, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", default=2, show_default=True, help="CPU threads for torch")
@click.option("--init-weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="start from the matching layers of this model (e.g. a trained detector for a segmenter of the "
                   "same classes); the rest of --model-cfg starts from scratch")
@click.option("--train-only", type=click.Choice(["all", "masks"]), default="all", show_default=True,
              help="masks: with --task segment and --init-weights DETECTOR, freeze everything the detector learned "
                   "(backbone, neck, box and class branches, BatchNorm statistics) and train only the mask branch, "
                   "so the segmenter detects exactly as the detector")
@click.option("--hours", type=click.FloatRange(min=0.01), default=None,
              help="stop after this many hours of training (ultralytics `time`; replaces --epochs, the learning-rate "
                   "schedule is fitted to it)")
def train_command(
    data_yaml: str | None,
    synthetic: str | None,
    n_train: int,
    n_val: int,
    n_test: int,
    out_path: str,
    model_cfg: str,
    task: str,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str,
    threads: int,
    init_weights: str | None,
    train_only: str,
    hours: float | None,
) -> None:
    """Train a detector from scratch and write the model with its card (command, data version, metrics)."""
    from training.train import frozen_tensors_changed, mask_branch_freeze, train_detector, write_card

    if (data_yaml is None) == (synthetic is None):
        raise click.UsageError("give exactly one of --data or --synthetic")
    freeze: list[int | str] = []
    if train_only == "masks":
        if task != "segment" or init_weights is None:
            raise click.UsageError("--train-only masks needs --task segment and --init-weights DETECTOR (the model "
                                   "whose layers stay frozen)")
        try:
            freeze = mask_branch_freeze(model_cfg if "-seg" in model_cfg else model_cfg.replace(".yaml", "-seg.yaml"))
        except (ValueError, OSError) as exc:
            raise click.BadParameter(str(exc), param_hint="--model-cfg") from None
    if synthetic:
        from inspection.simulation.synthetic import generator_for, write_yolo_dataset

        gen = generator_for(synthetic, seed=1234, imgsz=imgsz)
        root = Path(out_path).with_suffix("").parent / f"{synthetic}-data-{gen.data_version}"
        data_yaml = str(write_yolo_dataset(gen, root, n_train, n_val, task, n_test=n_test))  # type: ignore[arg-type]
    try:
        # Warm start: ultralytics copies the layers whose names and shapes match; a short warm-up and a gentle
        # optimizer keep them from being washed out while the new layers (a mask head) learn.
        extra = ({"pretrained": str(Path(init_weights).resolve()), "optimizer": "AdamW", "lr0": 0.001,
                  "warmup_epochs": 0.5} if init_weights else {})
        extra |= ({"freeze": freeze} if freeze else {}) | ({"time": hours} if hours else {})
        with quiet_logger("ultralytics"):  # it draws its own per-batch bars and epoch lines (not ours again)
            result = train_detector(data_yaml, out_path, model_cfg, epochs, imgsz, batch, device, task, threads,
                                    extra=extra)
        if freeze:  # the promise of --train-only masks, checked on the shipped file rather than trusted
            assert init_weights is not None
            compared, changed = frozen_tensors_changed(init_weights, result.weights, freeze)
            result.card.notes = (f"Trained only the mask branch (proto, cv4); frozen: layers {freeze[0]}–"
                                 f"{freeze[-4]} and {', '.join(map(str, freeze[-3:]))}. {compared - len(changed)} of "
                                 f"{compared} frozen tensors are bit-identical to {Path(init_weights).name}"
                                 + (f"; changed: {', '.join(changed[:10])}" if changed else "") + ".")
            write_card(result.weights, result.card)
    except (ValueError, OSError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"model: {result.weights}  (card: {result.weights.with_suffix('.md')})")
    click.echo(f"validation: {result.card.val_metrics}")


train = train_command  # the name the `inspection.cli` entry point uses
