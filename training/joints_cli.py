"""`station joints …`: train and evaluate the AOI joint classifier.

    station joints eval --model M --data DIR     # DIR/<class>/*.png|tiff → accuracy, per-class recall, macro-F1
    station joints eval --data DIR               # the shipped classifier (inspection/aoi/models/joint_head.pt)
    station joints eval --data DIR --held-out 0 --shrink 26   # held-out split of seed 0, crops shrunk to 26 px
    station joints train --data DIR --out M.pt   # stratified split, EfficientNet-Lite0 top fine-tuned + small head
    station joints train --data DIR --frozen     # the frozen-backbone recipe (head format aoi-joint-head/1)
    station joints cv --data DIR --folds 5       # cross-validate a recipe (same flags as train) on the training crops
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from inspection.aoi.classifier import DEFAULT_MODEL
from training.progress import quiet_option

if TYPE_CHECKING:
    from training.joints import TrainConfig

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
@click.option("--held-out", "held_out", type=int, default=None, metavar="SEED",
              help="only the held-out part of the stratified split with this seed (as `train --seed` made it)")
@click.option("--test-fraction", type=float, default=0.2, show_default=True, help="held-out share, with --held-out")
@click.option("--shrink", "long_side", type=click.IntRange(4, None), default=None, metavar="PX",
              help="scale every crop to a long side of PX first (crop-size check: the normal crops are small)")
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="also print the metrics as one JSON line")
def eval_joints(model: Path | None, data: Path, limit_per_class: int | None, seed: int, held_out: int | None,
                test_fraction: float, long_side: int | None, threads: int, as_json: bool) -> None:
    """Classify every crop under DATA and print accuracy, per-class recall and `macro-F1 = X.XXX`."""
    from training.joints import evaluate_model

    metrics = evaluate_model(model, data, limit_per_class, seed, _threads(threads), held_out_seed=held_out,
                             test_fraction=test_fraction, long_side=long_side)
    click.echo(f"model {model or DEFAULT_MODEL}, data {data}: {sum(metrics.support.values())} crops")
    for line in metrics.lines():
        click.echo(line)
    if as_json:
        click.echo(json.dumps(metrics.as_dict()))


def _recipe_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options that define a training recipe, shared by `train` and `cv` (so a recipe chosen by
    cross-validation is trained with the very same flags)."""
    options = [
        click.option("--data", "data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
                     help="folder with one sub-folder of crop images per class (e.g. ../shared/data/solder-joints)"),
        click.option("--seed", type=int, default=0, show_default=True, help="split and training seed"),
        click.option("--test-fraction", type=float, default=0.2, show_default=True, help="stratified held-out share"),
        click.option("--imgsz", type=int, default=112, show_default=True, help="backbone input size (px)"),
        click.option("--tune-from-block", type=click.IntRange(0, 16), default=15, show_default=True,
                     help="fine-tune the MBConv blocks from this index on (0-16; 16 = only conv_head/bn1) with "
                          "the head"),
        click.option("--finetune-epochs", type=int, default=40, show_default=True),
        click.option("--class-weight-power", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
                     help="class weights of the loss = (inverse class frequency) ** this: 1 = fully balanced, "
                          "0 = none"),
        click.option("--views", default="orig,small,hflip,vflip", show_default=True,
                     help="comma-separated views of each training crop to fine-tune on, one drawn per crop and "
                          "epoch (orig, hflip, vflip, rot180, rot90, transpose, small = shrunk to 14-46 px, jitterN)"),
        click.option("--tta/--no-tta", default=True, show_default=True,
                     help="the station averages each crop's probabilities over its flips (hflip, vflip, rot180): "
                          "4× the time"),
        click.option("--limit-per-class", type=int, default=None,
                     help="train on at most N crops per class (smoke tests)"),
        click.option("--no-augment", is_flag=True,
                     help="train on the crops as they are (no flipped, rotated or shrunk views)"),
        click.option("--cache", type=click.Path(path_type=Path, file_okay=False), default=None,
                     help="folder to keep backbone maps in, so retraining takes seconds"),
        click.option("--threads", type=int, default=2, show_default=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _config(seed: int, test_fraction: float, imgsz: int, tune_from_block: int | None, finetune_epochs: int,
            class_weight_power: float, views: str, tta: bool, limit_per_class: int | None, no_augment: bool,
            threads: int, **extra: object) -> TrainConfig:
    from training.joints import TrainConfig
    from training.joints_finetune import view_images

    if not 0.0 < test_fraction < 1.0:
        raise click.BadParameter("expected a fraction between 0 and 1", param_hint="--test-fraction")
    names = tuple(v.strip() for v in views.split(",") if v.strip())
    for name in names:
        try:
            view_images(name, [], seed)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--views") from None
    return TrainConfig(imgsz=imgsz, test_fraction=test_fraction, seed=seed, augment=not no_augment,
                       threads=_threads(threads), limit_per_class=limit_per_class, tune_from_block=tune_from_block,
                       finetune_epochs=finetune_epochs, class_weight_power=class_weight_power,
                       views=names or ("orig",), tta_views=("orig", "hflip", "vflip", "rot180") if tta else ("orig",),
                       **extra)  # type: ignore[arg-type]


@joints.command("train")
@quiet_option
@_recipe_options
@click.option("--out", "out", type=click.Path(path_type=Path), default=DEFAULT_MODEL, show_default=True,
              help="where to write the head")
@click.option("--epochs", type=int, default=300, show_default=True, help="head epochs of the --frozen recipe")
@click.option("--frozen", is_flag=True, help="keep the whole backbone frozen, train only the head (format /1)")
@click.option("--scale-augment", is_flag=True,
              help="also train on copies shrunk to 14-46 px, so crop size alone cannot separate the classes")
def train_joints(data: Path, out: Path, epochs: int, frozen: bool, scale_augment: bool, cache: Path | None,
                 tune_from_block: int, **recipe: Any) -> None:
    """Fine-tune the top of EfficientNet-Lite0 with a head; report held-out accuracy, recall and macro-F1."""
    from training.joints import train_joint_classifier

    if scale_augment and not frozen:
        raise click.BadParameter("--scale-augment belongs to the --frozen recipe", param_hint="--scale-augment")
    config = _config(tune_from_block=None if frozen else tune_from_block, epochs=epochs, scale_augment=scale_augment,
                     **recipe)
    metrics = train_joint_classifier(data, out, config, echo=click.echo, cache=cache)
    click.echo("held-out split:")
    for line in metrics.lines():
        click.echo(line)


@joints.command("cv")
@quiet_option
@_recipe_options
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True)
def cv_joints(data: Path, folds: int, cache: Path | None, **recipe: Any) -> None:
    """Cross-validate a fine-tuning recipe on the training crops only (the held-out split stays unseen):
    prints the pooled out-of-fold accuracy, per-class table and `cross-validated macro-F1 = X.XXX`."""
    from training.joints import cross_validate

    metrics = cross_validate(data, _config(**recipe), folds, echo=click.echo, cache=cache)
    click.echo(f"out-of-fold predictions of {sum(metrics.support.values())} training crops:")
    for line in metrics.lines():
        click.echo(line)
    click.echo(f"cross-validated macro-F1 = {metrics.macro_f1:.3f}")
