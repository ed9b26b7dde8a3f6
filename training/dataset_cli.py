"""`station dataset …` and `station models …`: dataset versions and the model registry."""

from __future__ import annotations

import json
from pathlib import Path

import click

from inspection.config import default_data_dir
from inspection.models.registry import ModelRegistry, PromotionGate
from inspection.records.store import Store
from training.dataset_versions import build_dataset_version, import_coco, import_yolo
from training.progress import quiet_option

__all__ = ["dataset", "models"]

_db = click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
                   default=lambda: default_data_dir() / "station.db", show_default="<data dir>/station.db",
                   help="The station's SQLite file (samples, labels).")
_registry = click.option("--registry", "registry_dir", type=click.Path(file_okay=False, path_type=Path),
                         default=lambda: default_data_dir() / "registry", show_default="<data dir>/registry",
                         help="Model registry folder.")

_key = click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                    envvar="STATION_SIGNING_KEY", help="Ed25519 private key (PEM) to sign with; outside the registry.")


@click.group()
def dataset() -> None:
    """Build frozen dataset versions from reviewed samples; import YOLO/COCO datasets."""


@dataset.command("build")
@quiet_option
@_db
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder that holds dataset versions (one sub-folder per version).")
@click.option("--task", type=click.Choice(["detect", "segment"]), default="detect", show_default=True)
@click.option("--classes", help="Comma-separated class list in model order (default: classes in the labels).")
@click.option("--val", "val_fraction", type=click.FloatRange(0.0, 0.9), default=0.2, show_default=True)
def build(db: Path, out: Path, task: str, classes: str | None, val_fraction: float) -> None:
    """Export accepted/relabelled samples as a content-hashed YOLO dataset (golden set kept apart)."""
    with Store(db) as store:
        version = build_dataset_version(store, out, task=task,  # type: ignore[arg-type]
                                        classes=tuple(classes.split(",")) if classes else None,
                                        val_fraction=val_fraction)
    counts = version.counts
    click.echo(f"{version.version}: train {counts['train']}, val {counts['val']}, golden {counts['golden']}, "
               f"classes {', '.join(version.classes)}")
    click.echo(f"data.yaml: {version.data_yaml}")


@dataset.command("slice")
@quiet_option
@click.option("--data", "data_yaml", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="YOLO data.yaml of whole frames (detect or segment labels).")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the tiles and their data.yaml.")
@click.option("--recipe", "recipe_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Take tile size and overlap from this recipe's tiling: section (what the line runs).")
@click.option("--tile-px", type=click.IntRange(32), help="Tile side in frame pixels (without --recipe).")
@click.option("--overlap-px", type=click.IntRange(0), default=64, show_default=True,
              help="Overlap between neighbouring tiles (without --recipe).")
@click.option("--min-visible", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.5, show_default=True,
              help="Keep a defect in a tile when at least this share of its area lies inside it.")
def slice_command(data_yaml: Path, out: Path, recipe_path: Path | None, tile_px: int | None, overlap_px: int,
                  min_visible: float) -> None:
    """Cut train/val images into the tiles a tiling recipe inspects (labels clipped), for training.

    Train on the result at --imgsz equal to the tile size; the test split stays whole frames, evaluated
    through the recipe's tiled detector (`station eval`)."""
    from inspection.domain.recipe import load_recipe
    from inspection.domain.tiling import TilingOptions
    from training.slicing import slice_dataset

    if recipe_path is not None:
        tiling = load_recipe(recipe_path).tiling
        if tiling is None:
            raise click.UsageError(f"{recipe_path} has no tiling: section; give --tile-px instead")
    elif tile_px is not None:
        try:
            tiling = TilingOptions(tile_px=tile_px, overlap_px=overlap_px)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    else:
        raise click.UsageError("give --recipe (its tiling: section) or --tile-px")
    try:
        report = slice_dataset(data_yaml, out, tiling, min_visible=min_visible)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for split, tiles in report.tiles.items():
        click.echo(f"{split}: {report.images[split]} images -> {tiles} tiles of {tiling.tile_px} px, "
                   f"{report.objects[split]} labels kept, {report.dropped[split]} cut-off pieces dropped")
    click.echo(f"data.yaml: {report.data_yaml}  (train with --imgsz {tiling.tile_px})")


@dataset.command("import")
@_db
@click.option("--yolo", "yolo_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="YOLO dataset folder (with data.yaml).")
@click.option("--coco", "coco_json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="COCO annotation JSON.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Image folder for --coco.")
@click.option("--golden", is_flag=True, help="Mark the imported images as the golden evaluation set.")
@click.option("--strict", is_flag=True, help="Stop at the first problem instead of skipping the file.")
def import_command(db: Path, yolo_dir: Path | None, coco_json: Path | None, images: Path | None, golden: bool,
                   strict: bool) -> None:
    """Import labelled images as accepted samples (problems reported with file and line)."""
    if (yolo_dir is None) == (coco_json is None):
        raise click.UsageError("give exactly one of --yolo DIR or --coco FILE --images DIR")
    samples_dir = db.parent / "samples"
    with Store(db) as store:
        if yolo_dir is not None:
            report = import_yolo(store, yolo_dir, samples_dir, strict=strict, golden=golden)
        else:
            if images is None:
                raise click.UsageError("--coco needs --images DIR")
            report = import_coco(store, coco_json, images, samples_dir, strict=strict, golden=golden)  # type: ignore[arg-type]
    for problem in report.problems or []:
        click.secho(f"skipped: {problem}", fg="yellow", err=True)
    click.echo(f"imported {report.imported} images with {report.labels} labels"
               f"{f', skipped {len(report.problems)} problems' if report.problems else ''}")
    if report.without_label_file:  # YOLO: no label file means "no defect"; say how many were taken as such
        click.secho(f"{report.without_label_file} image(s) had no label file and were imported as good parts "
                    "(YOLO reads images/…/x.png's labels from labels/…/x.txt)", fg="yellow")


@click.group()
def models() -> None:
    """The model registry: register, list, promote (with the gate) and roll back models."""


@models.command("list")
@_registry
@click.option("--product", help="Only this product.")
def list_models(registry_dir: Path, product: str | None) -> None:
    """List registered models with status and golden-set metrics."""
    registry = ModelRegistry(registry_dir)
    for record in registry.list(product):
        m = record.metrics
        click.echo(f"{record.id:<28} {record.status:<10} escape {m.get('escape_rate', float('nan')):.3f}  "
                   f"false-reject {m.get('false_reject_rate', float('nan')):.3f}  data {record.dataset_version or '-'}")


@models.command("register")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--product", required=True, help="Product/recipe the model is for.")
@_registry
@click.option("--dataset-version", default="", help="Dataset version it was trained on.")
@click.option("--command", "train_command", default="", help="Training command, for provenance.")
@click.option("--metrics", "metrics_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON with escape_rate, false_reject_rate, map50… (e.g. the report of `station eval`).")
@_key
def register(model: Path, product: str, registry_dir: Path, dataset_version: str, train_command: str,
             metrics_file: Path | None, key: Path | None) -> None:
    """Register a model file as a candidate (signed with --key / $STATION_SIGNING_KEY when given)."""
    try:
        metrics = json.loads(metrics_file.read_text()) if metrics_file else {}
    except ValueError as exc:
        raise click.BadParameter(f"{metrics_file}: not JSON ({exc})", param_hint="--metrics") from None
    if not isinstance(metrics, dict):
        raise click.BadParameter(f"{metrics_file}: expected a JSON object of name → number", param_hint="--metrics")
    flat = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    registry = ModelRegistry(registry_dir)
    known = {r.id: r for r in registry.list(product)}
    task, classes = _task_and_classes(model)
    record = registry.register(model, product, dataset_version=dataset_version, command=train_command,
                               metrics=flat, signing_key=key, task=task, classes=classes)
    if record.id in known:  # the same bytes: one registry entry, whatever was said the second time
        click.secho(f"{record.id} is already registered ({record.status}); its metrics and dataset version stay "
                    "as first registered" + (f" (given now: {flat})" if flat and flat != record.metrics else ""),
                    fg="yellow")
        return
    click.echo(f"registered {record.id} ({record.status}{', signed' if key else ', unsigned'})")
    if key is None:
        click.secho("warning: not signed; a station with a model trust store will refuse it "
                    "(`station models sign`)", fg="yellow", err=True)


def _task_and_classes(model: Path) -> tuple[str, tuple[str, ...]]:
    """What the model detects (the gate compares it with production)."""
    from inspection.inference.torch_runtime import load_yolo

    if model.suffix != ".pt":
        return "detect", ()
    yolo = load_yolo(model)
    return str(yolo.task), tuple(str(yolo.names[i]) for i in sorted(yolo.names))


@models.command("keygen")
@click.argument("key", type=click.Path(dir_okay=False, path_type=Path))
def keygen(key: Path) -> None:
    """Create an Ed25519 signing key KEY (keep it off the line and outside the registry) and KEY.pub."""
    from inspection.security.signing import generate_key

    public = generate_key(key)
    click.echo(f"private key {key} (mode 0600); public key {public}: copy it into each station's trust store")


@models.command("sign")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_key
@_registry
def sign(model: Path, key: Path | None, registry_dir: Path) -> None:
    """Sign MODEL (a file or a registered copy): writes MODEL.sig."""
    from inspection.inference.model_files import check_model_file
    from inspection.security.signing import sign_model

    if key is None:
        raise click.UsageError("give --key KEY or set STATION_SIGNING_KEY")
    check_model_file(model)  # never vouch for a file that could run code
    click.echo(f"signed: {sign_model(model, key, forbidden_dir=registry_dir)}")


@models.command("verify")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trust", "trust_store", type=click.Path(exists=True, file_okay=False, path_type=Path),
              required=True, help="Trust store folder (*.pub).")
def verify(model: Path, trust_store: Path) -> None:
    """Check MODEL's signature against a trust store and that it cannot run code when loaded."""
    from inspection.inference.model_files import check_model_file
    from inspection.security.signing import load_trust_store, verify_model

    signer = verify_model(model, load_trust_store(trust_store))
    check_model_file(model)
    click.echo(f"{model}: signed by trusted key {signer}; safe to load")


_login_help = ("Log in as a station account (engineer or admin): STATION_TOKEN, or STATION_USER + "
               "STATION_PASSWORD, or the prompt. The decision is role-checked and audited in --db.")


@models.command("promote", epilog=_login_help)
@click.argument("model_id")
@_registry
@_db
@click.option("--max-false-reject-increase", type=click.FloatRange(0.0, 1.0), default=0.02, show_default=True,
              help="Allowed rise of the false-reject rate; above the default it is a forced promotion (admins).")
@click.option("--force", is_flag=True, help="Promote even if the gate blocks (admins only; audited as force-promote).")
def promote(model_id: str, registry_dir: Path, db: Path, max_false_reject_increase: float, force: bool) -> None:
    """Make a candidate the production model if it passes the promotion gate."""
    from inspection.decisions.approvals import promote_model
    from inspection.people.audit import Operations
    from inspection.people.session import cli_user

    gate = PromotionGate(max_false_reject_increase=max_false_reject_increase)
    registry = ModelRegistry(registry_dir)
    with Store(db) as store:
        report = promote_model(Operations(store), cli_user(store), registry, model_id, gate, force=force)
    click.echo(str(report))
    click.echo(f"{model_id} is now production")


@models.command("rollback", epilog=_login_help)
@click.option("--product", required=True)
@_registry
@_db
def rollback(product: str, registry_dir: Path, db: Path) -> None:
    """Restore the previous production model of a product in one action."""
    from inspection.decisions.approvals import rollback_model
    from inspection.people.audit import Operations
    from inspection.people.session import cli_user

    with Store(db) as store:
        record = rollback_model(Operations(store), cli_user(store), ModelRegistry(registry_dir), product)
    click.echo(f"{record.id} is production again")


def _add_model_hub_commands() -> None:
    from inspection.central.hub_cli import HUB_COMMANDS  # the central MLflow registry (docs/fleet.md)

    for command in HUB_COMMANDS:
        models.add_command(command)


_add_model_hub_commands()
