"""`station labels export`: the review queue or a dataset version for CVAT / Label Studio (COCO)."""

from __future__ import annotations

from pathlib import Path

import click

from inspection.records.store import Store

__all__ = ["labels"]


@click.group("labels")
def labels() -> None:
    """Label work outside the station: export for CVAT / Label Studio (import back: station dataset import)."""


@labels.command("export")
@click.option("--db", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The station's SQLite file: export its review queue.")
@click.option("--status", "statuses", multiple=True, default=("pending",), show_default=True,
              type=click.Choice(["pending", "accepted", "relabelled", "rejected"]),
              help="With --db: which samples (repeatable).")
@click.option("--version-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A dataset version folder (station dataset build) instead of the review queue.")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write: images/, annotations.json (COCO), label_studio_tasks.json, …")
def export(db: Path | None, statuses: tuple[str, ...], version_dir: Path | None, out: Path) -> None:
    """Write images + COCO (the model's detections as pre-annotations) + Label Studio tasks."""
    from inspection.records.coco import export_dataset_version, export_review_queue

    if (db is None) == (version_dir is None):
        raise click.UsageError("give exactly one of --db DB (review queue) or --version-dir DIR (dataset version)")
    if db is not None:
        with Store(db) as store:
            report = export_review_queue(store, out, statuses)
    else:
        report = export_dataset_version(version_dir, out)  # type: ignore[arg-type]
    for problem in report.skipped:
        click.secho(f"skipped: {problem}", fg="yellow", err=True)
    click.echo(f"wrote {report.images} images, {report.annotations} annotations, {report.predictions} model "
               f"predictions to {out} (see {out / 'README.txt'} to import them)")
