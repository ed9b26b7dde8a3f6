"""`station models publish|pull|line-rollback`: the central MLflow model registry from the command line
(added to the `models` group; the logic is in `inspection.central.model_hub`)."""

from __future__ import annotations

from pathlib import Path

import click

from inspection.central.model_hub import ModelHubConfig, publish, pull_production, rollback
from inspection.config import default_data_dir
from inspection.models.registry import ModelRegistry

__all__ = ["HUB_COMMANDS"]

_uri = click.option("--mlflow", "tracking_uri", envvar="STATION_MLFLOW_URI", required=True,
                    help="MLflow tracking server, http://… (or $STATION_MLFLOW_URI).")
_registry = click.option("--registry", "registry_dir", type=click.Path(file_okay=False, path_type=Path),
                         default=lambda: default_data_dir() / "registry", show_default="<data dir>/registry",
                         help="Local model registry folder.")
_trust = click.option("--trust", "trust_store", type=click.Path(exists=True, file_okay=False, path_type=Path),
                      envvar="STATION_MODEL_TRUST_STORE",
                      help="Model trust store (*.pub): only a model signed by one of its keys passes.")


@click.command("publish")
@click.argument("model_id")
@_uri
@_registry
@click.option("--by", required=True, help="Who publishes (recorded in MLflow).")
@click.option("--card", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The model card (.md).")
@click.option("--key", "signing_key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              envvar="STATION_SIGNING_KEY", help="Signing key (or $STATION_SIGNING_KEY): the model must carry its "
              "signature (`station models sign`), else nothing is published.")
@_trust
def publish_command(model_id: str, tracking_uri: str, registry_dir: Path, by: str, card: Path | None,
                    signing_key: Path | None, trust_store: Path | None) -> None:
    """Publish a production (gated) model (and its .sig) to MLflow and make it the line's production model."""
    registry = ModelRegistry(registry_dir)
    try:
        done = publish(ModelHubConfig(tracking_uri=tracking_uri), registry, model_id, by, card,
                       signing_key=signing_key, trust_store=trust_store)
    finally:
        registry.close()
    click.echo(f"{done.model_id} published as {done.product} v{done.version} (alias production; previous "
               f"{done.previous_version or 'none'}); stations take it at their next start or `station models pull`")


@click.command("pull")
@click.option("--product", required=True)
@_uri
@_registry
@_trust
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Station YAML: its registry and `security.model_trust_store` (unless --registry/--trust).")
def pull_command(product: str, tracking_uri: str, registry_dir: Path, trust_store: Path | None,
                 config_path: Path | None) -> None:
    """Take the product's production model from MLflow into the local registry (hash and signature verified)."""
    if config_path is not None:
        from inspection.config import load_station_config

        station = load_station_config(config_path)
        source = click.get_current_context().get_parameter_source("registry_dir")
        if source is not click.core.ParameterSource.COMMANDLINE:
            registry_dir = station.registry_dir
        trust_store = trust_store or station.security.model_trust_store
    registry = ModelRegistry(registry_dir)
    try:
        record = pull_production(ModelHubConfig(tracking_uri=tracking_uri), registry, product, "station models pull",
                                 trust_store=trust_store)
    finally:
        registry.close()
    click.echo(f"{record.id} is production in {registry_dir} (restart the station to run it)")


@click.command("line-rollback")
@click.option("--product", required=True)
@_uri
def line_rollback_command(product: str, tracking_uri: str) -> None:
    """Point the line's production alias back at the previous version (every station, next start)."""
    version = rollback(ModelHubConfig(tracking_uri=tracking_uri), product)
    click.echo(f"{product}: production is version {version} again")


HUB_COMMANDS = (publish_command, pull_command, line_rollback_command)
