"""Central model registry on MLflow: publish a gated model once, every station of that product takes it.

- `publish` (engineer's PC): a model that passed the project's gate — it is `production` in the local
  registry — is logged to MLflow as a run (the model file, its metrics, dataset version, classes, sha256,
  and its model card when there is one) and registered as a new version of the registered model named
  after the product; the alias `production` moves to it. The previous production version is remembered
  on the new one (tag `previous_production`), so `rollback` is one action for the whole line.
- `pull_production` (station, at start): the version behind the product's `production` alias is
  downloaded, its sha256 checked against the one published, registered into the station's local
  registry and made production there (history says which MLflow version). The station loads it
  through the local registry as always (hash verified again). A switch happens only at a start (or an
  explicit `station models pull`), never mid-part.
- Signatures (docs/security.md): with a signing key or a trust store given, `publish` refuses a model
  without a valid signature (`<model>.sig`, by that key / a trusted key) and logs the `.sig` beside the
  model (artifact `signature/`); `pull_production` with the station's trust store
  (`security.model_trust_store`) refuses an unsigned or foreign-signed version before it enters the local
  registry. Without a trust store a published `.sig` is still taken along, unchecked.
- MLflow away at start: the station runs its cached production model (the last one it pulled) and says so
  (`ModelHubUnavailable` → an alarm event naming the cached model).

mlflow (the client) is imported only here and only when `model_hub:` is configured.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspection.config import ModelHubConfig
from inspection.errors import ModelError
from inspection.inference import file_sha256
from inspection.models.registry import ModelRecord, ModelRegistry
from inspection.security.signing import SignatureError, load_trust_store, signature_path, trusted_by_key, verify_model

__all__ = ["ALIAS", "ModelHubConfig", "ModelHubUnavailable", "Published", "publish", "pull_production", "rollback"]

ALIAS = "production"


class ModelHubUnavailable(ModelError):
    """MLflow could not be asked; the caller falls back to the cached production model."""


@dataclass(frozen=True, slots=True)
class Published:
    product: str
    version: str
    model_id: str
    sha256: str
    previous_version: str | None


def _client(config: ModelHubConfig) -> Any:
    import os

    # mlflow reads its HTTP timeouts and retries from the environment, per process
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(max(1, config.timeout_s)))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(config.retries)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ModelError("model_hub: needs the MLflow client: pip install 'inspection-station[fleet]'") from None
    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)


def _unavailable(config: ModelHubConfig, exc: BaseException) -> ModelHubUnavailable:
    detail = " ".join(str(exc).split())[:300] or type(exc).__name__
    return ModelHubUnavailable(f"MLflow at {config.tracking_uri} not reachable: {detail}")


def _check_signed(path: Path, model_id: str, signing_key: Path | None, trust_store: Path | None) -> str | None:
    """The signer's key id; with a key or trust store given, an unsigned or foreign-signed model is refused."""
    if signing_key is None and trust_store is None:
        return None
    trusted = trusted_by_key(signing_key) if signing_key is not None else {}
    if trust_store is not None:
        trusted |= load_trust_store(trust_store)
    try:
        return verify_model(path, trusted)
    except SignatureError as exc:
        raise SignatureError(f"refusing to publish {model_id}: {exc}") from None


def publish(config: ModelHubConfig, registry: ModelRegistry, model_id: str, by: str,
            card: Path | None = None, *, signing_key: Path | None = None,
            trust_store: Path | None = None) -> Published:
    """Push a model that passed the gate (production in `registry`) and point `production` at it.
    `card`: the model card written by training (default: `<model>.md` beside the registered file).
    `signing_key` / `trust_store`: the model must be signed by that key / a key of that store."""
    record = registry.get(model_id)
    if record.status != "production":
        raise ModelError(f"{model_id} is {record.status}, not production: promote it through the gate first "
                         "(`station models promote`), then publish")
    path = registry.verified_path(record)
    signer = _check_signed(path, model_id, signing_key, trust_store)
    signature = signature_path(path)
    client = _client(config)
    try:
        from mlflow.exceptions import MlflowException

        try:
            client.get_registered_model(record.product)
        except MlflowException:
            client.create_registered_model(record.product, description=f"inspection-station, {record.product}")
        previous = _alias_version(client, record.product)
        experiment = client.get_experiment_by_name("inspection-station") or None
        experiment_id = experiment.experiment_id if experiment else client.create_experiment("inspection-station")
        run = client.create_run(experiment_id, run_name=model_id, tags={"sha256": record.sha256, "published_by": by})
        run_id = run.info.run_id
        for key, value in record.metrics.items():
            client.log_metric(run_id, key, float(value))
        for key, value in (("dataset_version", record.dataset_version), ("task", record.task),
                           ("classes", json.dumps(list(record.classes))), ("model_id", model_id),
                           ("file", path.name)):
            client.log_param(run_id, key, value)
        client.log_artifact(run_id, str(path), artifact_path="model")
        if signature.is_file():  # the station checks it against its own trust store
            client.log_artifact(run_id, str(signature), artifact_path="signature")
        card = card or path.with_suffix(".md")
        if card.is_file():
            client.log_artifact(run_id, str(card), artifact_path="card")
        client.set_terminated(run_id)
        tags = {"sha256": record.sha256, "model_id": model_id, "file": path.name, "published_by": by,
                "previous_production": previous or "", "signed_by": signer or ""}
        version = client.create_model_version(record.product, f"runs:/{run_id}/model", run_id=run_id, tags=tags)
        client.set_registered_model_alias(record.product, ALIAS, version.version)
    except ModelError:
        raise
    except Exception as exc:
        raise _unavailable(config, exc) from None
    return Published(record.product, str(version.version), model_id, record.sha256, previous)


def rollback(config: ModelHubConfig, product: str) -> str:
    """Point `production` back at the version before the current one, for every station of the line."""
    client = _client(config)
    try:
        current = client.get_model_version_by_alias(product, ALIAS)
        previous = (current.tags or {}).get("previous_production")
        if not previous:
            raise ModelError(f"{product} version {current.version} has no previous production version to go back to")
        client.set_registered_model_alias(product, ALIAS, previous)
    except ModelError:
        raise
    except Exception as exc:
        raise _unavailable(config, exc) from None
    return str(previous)


def _alias_version(client: Any, product: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(product, ALIAS).version)
    except Exception:
        return None


def _fetch_signature(client: Any, run_id: str, local: Path) -> bool:
    """The published `.sig` beside the downloaded model file; False when the version was published unsigned."""
    name = signature_path(local).name
    if not any(Path(a.path).name == name for a in client.list_artifacts(run_id, "signature")):
        return False
    with tempfile.TemporaryDirectory(prefix="model-hub-sig-") as tmp:
        fetched = Path(client.download_artifacts(run_id, f"signature/{name}", tmp))
        signature_path(local).write_bytes(fetched.read_bytes()[:65536])
    return True


def pull_production(config: ModelHubConfig, registry: ModelRegistry, product: str, by: str = "station",
                    trust_store: Path | None = None) -> ModelRecord:
    """The product's production model from MLflow into the local registry, verified, as local production.
    With `trust_store` (the station's `security.model_trust_store`) it must also be signed by a trusted key."""
    client = _client(config)
    try:
        version = client.get_model_version_by_alias(product, ALIAS)
        tags = dict(version.tags or {})
        with tempfile.TemporaryDirectory(prefix="model-hub-") as tmp:
            local = Path(client.download_artifacts(version.run_id, f"model/{tags.get('file', '')}", tmp))
            if local.is_dir():
                files = list(local.iterdir())
                if len(files) != 1:
                    raise ModelError(f"{product} v{version.version}: expected one model file, got "
                                     f"{[p.name for p in files]}")
                local = files[0]
            expected = tags.get("sha256", "")
            actual = file_sha256(local)
            if not expected or actual != expected:
                raise ModelError(f"{product} v{version.version} from {config.tracking_uri}: sha256 {actual[:12]} ≠ "
                                 f"published {expected[:12] or '(none)'}; refusing it, the station keeps its model")
            signed = _fetch_signature(client, version.run_id, local)
            if trust_store is not None:
                where = f"{product} v{version.version} from {config.tracking_uri}"
                if not signed:
                    raise SignatureError(f"{where} was published unsigned and this station has a model trust store "
                                         f"({trust_store}); refusing it, the station keeps its model. Sign it "
                                         "(`station models sign`) and publish it again")
                try:
                    verify_model(local, load_trust_store(trust_store))
                except SignatureError as exc:
                    raise SignatureError(f"{where}: {exc}; the station keeps its model") from None
            run = client.get_run(version.run_id)
            params = run.data.params
            record = registry.register(local, product, dataset_version=params.get("dataset_version", ""),
                                       command=f"mlflow {config.tracking_uri} {product} v{version.version}",
                                       metrics=dict(run.data.metrics), task=params.get("task", "detect"),
                                       classes=tuple(json.loads(params.get("classes", "[]"))))
            if signed and not signature_path(record.path).is_file():  # registered unsigned before: add the .sig
                signature_path(record.path).write_bytes(signature_path(local).read_bytes())
    except ModelError:
        raise
    except Exception as exc:
        raise _unavailable(config, exc) from None
    current = registry.production(product)
    if current is None or current.id != record.id:
        # the line's decision was made at publish time behind the gate; the local history says by whom
        registry.promote(record.id, f"{by} (mlflow {product} v{version.version})", force=True)
    return registry.get(record.id)
