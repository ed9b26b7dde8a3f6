"""`station joints …`: train and evaluate the AOI joint classifier.

    station joints eval --model M --data DIR     # DIR/<class>/*.png|tiff → accuracy, per-class recall, macro-F1
    station joints eval --data DIR               # the shipped classifier (inspection/aoi/models/joint_head.pt)
    station joints train --data DIR --out M.pt   # stratified split, frozen EfficientNet-Lite0 + small head
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from inspection.aoi.classifier import DEFAULT_MODEL
from training.progress import quiet_option

__all__ = ["joints"]


def _threads(threads: int) -> int:
    import torch

    torch.set_num_threads(threads)
    return threads


@click.group()
def joints() -> None:
    """AOI joint classifier: normal / short / insufficient / excessive / shifted pad-window crops."""


@joints.command("eval")
@click.option("--model", "model", type=click.Path(path_type=Path), default=None,
              help=f"joint classifier head (.pt); default: the shipped {DEFAULT_MODEL.name}")
@click.option("--data", "data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="folder with one sub-folder of crop images per class")
@click.option("--limit-per-class", type=int, default=None, help="evaluate on at most N random crops per class")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the --limit-per-class sample")
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="also print the metrics as one JSON line")
def eval_joints(model: Path | None, data: Path, limit_per_class: int | None, seed: int, threads: int,
                as_json: bool) -> None:
    """Classify every crop under DATA and print accuracy, per-class recall and `macro-F1 = X.XXX`."""
    from training.joints import evaluate_model

    metrics = evaluate_model(model, data, limit_per_class, seed, _threads(threads))
    click.echo(f"model {model or DEFAULT_MODEL}, data {data}: {sum(metrics.support.values())} crops")
    for line in metrics.lines():
        click.echo(line)
    if as_json:
        click.echo(json.dumps(metrics.as_dict()))


@joints.command("train")
@quiet_option
@click.option("--data", "data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="folder with one sub-folder of crop images per class (e.g. ../shared/data/solder-joints)")
@click.option("--out", "out", type=click.Path(path_type=Path), default=DEFAULT_MODEL, show_default=True,
              help="where to write the head")
@click.option("--seed", type=int, default=0, show_default=True, help="split and training seed")
@click.option("--test-fraction", type=float, default=0.2, show_default=True, help="stratified held-out share")
@click.option("--imgsz", type=int, default=112, show_default=True, help="backbone input size (px)")
@click.option("--epochs", type=int, default=300, show_default=True)
@click.option("--limit-per-class", type=int, default=None, help="train on at most N crops per class (smoke tests)")
@click.option("--no-augment", is_flag=True, help="no flipped/rotated copies of the training crops")
@click.option("--scale-augment", is_flag=True,
              help="also train on copies shrunk to 14-46 px, so crop size alone cannot separate the classes")
@click.option("--cache", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="folder to keep backbone features in, so retraining the head takes seconds")
@click.option("--threads", type=int, default=2, show_default=True)
def train_joints(data: Path, out: Path, seed: int, test_fraction: float, imgsz: int, epochs: int,
                 limit_per_class: int | None, no_augment: bool, scale_augment: bool, cache: Path | None,
                 threads: int) -> None:
    """Train the head on frozen EfficientNet-Lite0 features; report held-out accuracy, recall and macro-F1."""
    from training.joints import TrainConfig, train_joint_classifier

    if not 0.0 < test_fraction < 1.0:
        raise click.BadParameter("expected a fraction between 0 and 1", param_hint="--test-fraction")
    config = TrainConfig(imgsz=imgsz, epochs=epochs, test_fraction=test_fraction, seed=seed,
                         augment=not no_augment, scale_augment=scale_augment, threads=_threads(threads),
                         limit_per_class=limit_per_class)
    metrics = train_joint_classifier(data, out, config, echo=click.echo, cache=cache)
    click.echo("held-out split:")
    for line in metrics.lines():
        click.echo(line)
