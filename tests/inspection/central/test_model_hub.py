"""The central model registry against a real MLflow server (PostgreSQL backend store, started by
.ci/services.sh: STATION_TEST_MLFLOW): publish behind the gate, stations take the production alias verified
into their local registry at start, one rollback for the line, a tampered hash refused; MLflow away at
start runs the cached production model and says so (no server needed for that one)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspection.central.model_hub import ModelHubUnavailable, publish, pull_production, rollback
from inspection.config import ModelHubConfig, load_station_config
from inspection.errors import ModelError
from inspection.models.registry import ModelRegistry
from inspection.runtime.pipeline import Station

pytest.importorskip("mlflow", reason="the MLflow client is not installed (pip install '.[fleet]')")
pytestmark = pytest.mark.slow
DEAD = "http://127.0.0.1:1"


def _healthy(uri: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s  # a first start migrates its PostgreSQL database
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=5) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(1)
    return False


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The MLflow server of .ci/services.sh (STATION_TEST_MLFLOW), else one of our own on the test PostgreSQL."""
    if uri := os.environ.get("STATION_TEST_MLFLOW"):
        if not _healthy(uri, 300):
            pytest.fail(f"MLflow at {uri} did not answer /health within 300 s")
        yield uri
        return
    server = os.environ.get("STATION_TEST_PG_URL")
    if not server:
        pytest.skip("no MLflow server and no PostgreSQL for one: run the tests through .ci/run, or eval "
                    "\"$(.ci/services.sh start)\" first (sets STATION_TEST_MLFLOW / STATION_TEST_PG_URL)")
    import psycopg

    name = f"mlflow_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"create database {name}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path_factory.mktemp("mlflow")
    backend = server.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    with (folder / "mlflow.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
                                 "--artifacts-destination", str(folder / "artifacts"), "--serve-artifacts",
                                 "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                stdout=log, stderr=log, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        if not _healthy(uri, 300):
            pytest.fail(f"our MLflow server did not answer within 300 s; see {folder / 'mlflow.log'}")
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def gated(registry: ModelRegistry, tmp_path: Path, product: str, data: bytes, version: str) -> str:
    """A model that passed the gate in the engineer's registry (production there)."""
    path = tmp_path / f"model-{version}.onnx"
    path.write_bytes(data)
    record = registry.register(path, product, dataset_version=version, classes=("bridge",),
                               metrics={"escape_rate": 0.02, "false_reject_rate": 0.03})
    registry.promote(record.id, "qe.anna")
    return record.id


def test_publish_pull_rollback_for_the_whole_line(tmp_path: Path, mlflow_uri: str) -> None:
    product = f"board-{uuid.uuid4().hex[:8]}"
    hub = ModelHubConfig(tracking_uri=mlflow_uri, timeout_s=60)
    engineer = ModelRegistry(tmp_path / "engineer")
    with pytest.raises(ModelError, match="promote it through the gate first"):
        candidate = engineer.register(_file(tmp_path, b"not gated"), product)
        publish(hub, engineer, candidate.id, "qe.anna")
    first = gated(engineer, tmp_path, product, b"model one", "v0")
    one = publish(hub, engineer, first, "qe.anna")
    second = gated(engineer, tmp_path, product, b"model two", "v1")
    two = publish(hub, engineer, second, "qe.anna")
    assert (one.previous_version, two.previous_version) == (None, one.version)

    station = ModelRegistry(tmp_path / "station1")
    record = pull_production(hub, station, product, "station line1")
    assert record.id == second and record.status == "production" and record.dataset_version == "v1"
    assert station.verified_path(record).read_bytes() == b"model two"
    assert f"mlflow {mlflow_uri} {product} v{two.version}" == record.command

    assert rollback(hub, product) == one.version  # one action, the whole line
    assert pull_production(hub, station, product, "station line1").id == first
    assert ModelRegistry(tmp_path / "station2").production(product) is None
    assert pull_production(hub, ModelRegistry(tmp_path / "station2"), product).id == first


def test_a_version_whose_file_does_not_match_its_published_hash_is_refused(tmp_path: Path, mlflow_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    product = f"board-{uuid.uuid4().hex[:8]}"
    hub = ModelHubConfig(tracking_uri=mlflow_uri, timeout_s=60)
    engineer = ModelRegistry(tmp_path / "engineer")
    first = gated(engineer, tmp_path, product, b"model one", "v0")
    published = publish(hub, engineer, first, "qe.anna")
    MlflowClient(mlflow_uri).set_model_version_tag(product, published.version, "sha256", "0" * 64)
    station = ModelRegistry(tmp_path / "station")
    with pytest.raises(ModelError, match="refusing it"):
        pull_production(hub, station, product)
    assert station.production(product) is None


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"{uuid.uuid4().hex[:6]}.onnx"
    path.write_bytes(data)
    return path


def _hub_station(tmp_path: Path, station_yaml: Path, tiny_model: Path, uri: str) -> Path:
    product = "board-hub"
    (tmp_path / "recipe.yaml").write_text(f"name: test-board\nregistry_product: {product}\ndeadline_ms: 60000\n",
                                          encoding="utf-8")
    with station_yaml.open("a", encoding="utf-8") as f:
        f.write(f"model_hub:\n  tracking_uri: {uri}\n  timeout_s: 5\n")
    return station_yaml


def test_mlflow_away_at_start_runs_the_cached_production_model_and_says_so(
        tmp_path: Path, station_yaml: Path, tiny_model: Path) -> None:
    config_path = _hub_station(tmp_path, station_yaml, tiny_model, DEAD)
    config = load_station_config(config_path)
    registry = ModelRegistry(config.registry_dir)
    cached = registry.register(tiny_model, "board-hub")
    registry.promote(cached.id, "station line1 (mlflow board-hub v3)")
    registry.close()
    with Station(config) as station:
        assert station.detector is not None and station.detector.model_id.endswith(f"@{cached.sha256[:12]}")
        assert station.store is not None
        events = [e for e in station.store.events() if e["kind"] == "model_hub"]
        assert events and events[0]["level"] == "alarm"
        assert "not reachable" in events[0]["message"] and f"running the cached production model {cached.id}" \
            in events[0]["message"]


def test_mlflow_away_and_nothing_cached_refuses_to_start_with_a_clear_message(
        tmp_path: Path, station_yaml: Path, tiny_model: Path) -> None:
    config = load_station_config(_hub_station(tmp_path, station_yaml, tiny_model, DEAD))
    with pytest.raises(ModelError, match="no cached production model of board-hub"), Station(config):
        pass


def test_unreachable_hub_is_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(ModelHubUnavailable, match="not reachable"):
        pull_production(ModelHubConfig(tracking_uri=DEAD, timeout_s=2), ModelRegistry(tmp_path / "r"), "x")


def test_a_station_takes_the_lines_production_model_at_start(tmp_path: Path, station_yaml: Path, tiny_model: Path,
                                                             mlflow_uri: str) -> None:
    engineer = ModelRegistry(tmp_path / "engineer")
    record = engineer.register(tiny_model, "board-hub", metrics={"escape_rate": 0.0, "false_reject_rate": 0.0})
    engineer.promote(record.id, "qe.anna")
    hub = ModelHubConfig(tracking_uri=mlflow_uri, timeout_s=60)
    published = publish(hub, engineer, record.id, "qe.anna")
    config = load_station_config(_hub_station(tmp_path, station_yaml, tiny_model, mlflow_uri))
    with Station(config) as station:
        assert station.detector is not None and station.detector.model_id.endswith(f"@{record.sha256[:12]}")
        assert station.store is not None
        (event,) = [e for e in station.store.events() if e["kind"] == "model_hub"]
        assert event["level"] == "info" and f"board-hub v{published.version}" in event["message"]


def test_an_explicit_reload_between_runs_takes_the_new_production_model(
        tmp_path: Path, station_yaml: Path, tiny_model: Path, mlflow_uri: str) -> None:
    import shutil

    from inspection.errors import StationError

    engineer = ModelRegistry(tmp_path / "engineer")
    hub = ModelHubConfig(tracking_uri=mlflow_uri, timeout_s=60)
    first = engineer.register(tiny_model, "board-reload")
    engineer.promote(first.id, "qe.anna")
    publish(hub, engineer, first.id, "qe.anna")
    config_path = _hub_station(tmp_path, station_yaml, tiny_model, mlflow_uri)
    config_path.with_name("recipe.yaml").write_text("name: test-board\nregistry_product: board-reload\n"
                                                    "deadline_ms: 60000\n", encoding="utf-8")
    with Station(load_station_config(config_path)) as station:
        assert station.detector is not None and station.detector.model_id.endswith(f"@{first.sha256[:12]}")
        retrained = tmp_path / "retrained.pt"
        shutil.copy(tiny_model, retrained)
        with retrained.open("ab") as f:
            f.write(b"\0")  # same weights and classes, another file: another model id
        second = engineer.register(retrained, "board-reload")
        engineer.promote(second.id, "qe.anna", force=True)
        publish(hub, engineer, second.id, "qe.anna")
        station._runtime = object()  # type: ignore[assignment]  # as if parts were in flight
        with pytest.raises(StationError, match="stop the line"):
            station.reload_model()
        station._runtime = None
        assert station.reload_model().endswith(f"@{second.sha256[:12]}")
        station.run(max_parts=1)
        assert station.store is not None
        assert any(e["kind"] == "model_reloaded" for e in station.store.events())


# --- signatures: publish refuses unsigned when signing is configured, pull checks the station's trust store --


def _keys(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(our signing key, the station's trust store holding its .pub, a foreign signing key)."""
    from inspection.security.signing import generate_key

    ours, foreign = tmp_path / "keys" / "qe.pem", tmp_path / "keys" / "stranger.pem"
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "qe.pub").write_bytes(generate_key(ours).read_bytes())
    generate_key(foreign)
    return ours, trust, foreign


def test_publish_refuses_an_unsigned_model_when_signing_is_configured(tmp_path: Path, mlflow_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    from inspection.security.signing import SignatureError

    key, trust, _ = _keys(tmp_path)
    product = f"board-{uuid.uuid4().hex[:8]}"
    hub = ModelHubConfig(tracking_uri=mlflow_uri, timeout_s=60)
    engineer = ModelRegistry(tmp_path / "engineer")
    unsigned = gated(engineer, tmp_path, product, b"unsigned model", "v0")
    for options in ({"signing_key": key}, {"trust_store": trust}):
        with pytest.raises(SignatureError, match=f"refusing to publish {unsigned}: .* is not signed"):
            publish(hub, engineer, unsigned, "qe.anna", **options)  # type: ignore[arg-type]
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):  # nothing reached the line
        MlflowClient(mlflow_uri).get_model_version_by_alias(product, "production")


def test_a_signed_model_travels_with_its_signature_and_the_station_verifies_it(tmp_path: Path,
                                                                                mlflow_uri: str) -> None:
    from inspection.security.signing import load_trust_store, signature_path, verify_model

    key, trust, _ = _keys(tmp_path)
    product = f"board-{uuid.uuid4().hex[:8]}"
    hub = ModelHubConfig(tracking_uri=mlflow_uri, timeout_s=60)
    engineer = ModelRegistry(tmp_path / "engineer")
    record = engineer.register(_file(tmp_path, b"signed model"), product, signing_key=key)
    engineer.promote(record.id, "qe.anna")
    publish(hub, engineer, record.id, "qe.anna", signing_key=key, trust_store=trust)

    station = ModelRegistry(tmp_path / "station")
    pulled = pull_production(hub, station, product, "station line1", trust_store=trust)
    assert pulled.id == record.id and pulled.status == "production"
    assert signature_path(pulled.path).is_file()  # the station's own start check verifies it again
    verify_model(station.verified_path(pulled), load_trust_store(trust))


def test_the_station_refuses_an_unsigned_or_foreign_signed_production_model(tmp_path: Path, mlflow_uri: str) -> None:
    from inspection.security.signing import SignatureError

    _, trust, foreign = _keys(tmp_path)
    hub = ModelHubConfig(tracking_uri=mlflow_uri, timeout_s=60)
    engineer = ModelRegistry(tmp_path / "engineer")
    unsigned_product, foreign_product = f"board-{uuid.uuid4().hex[:8]}", f"board-{uuid.uuid4().hex[:8]}"
    publish(hub, engineer, gated(engineer, tmp_path, unsigned_product, b"no signature", "v0"), "qe.anna")
    stranger = engineer.register(_file(tmp_path, b"signed by a stranger"), foreign_product, signing_key=foreign)
    engineer.promote(stranger.id, "qe.anna")
    publish(hub, engineer, stranger.id, "qe.anna", signing_key=foreign)  # its publisher trusts itself

    station = ModelRegistry(tmp_path / "station")
    with pytest.raises(SignatureError, match="published unsigned and this station has a model trust store"):
        pull_production(hub, station, unsigned_product, trust_store=trust)
    with pytest.raises(SignatureError, match="not in the station's trust store; refusing it"):
        pull_production(hub, station, foreign_product, trust_store=trust)
    assert station.list() == []  # neither entered the local registry
    # without a trust store the station takes them as before (hash checked)
    assert pull_production(hub, station, unsigned_product).status == "production"


def test_cli_pull_uses_the_station_configs_trust_store(tmp_path: Path, station_yaml: Path, mlflow_uri: str) -> None:
    from click.testing import CliRunner

    from inspection.cli import station as main

    _, trust, _ = _keys(tmp_path)
    product = f"board-{uuid.uuid4().hex[:8]}"
    engineer = ModelRegistry(tmp_path / "engineer")
    model_id = gated(engineer, tmp_path, product, b"unsigned for the cli", "v0")
    runner = CliRunner()
    published = runner.invoke(main, ["models", "publish", model_id, "--mlflow", mlflow_uri, "--registry",
                                     str(tmp_path / "engineer"), "--by", "qe.anna", "--trust", str(trust)])
    assert published.exit_code != 0 and "is not signed" in published.output
    assert runner.invoke(main, ["models", "publish", model_id, "--mlflow", mlflow_uri, "--registry",
                                str(tmp_path / "engineer"), "--by", "qe.anna"]).exit_code == 0
    with station_yaml.open("a", encoding="utf-8") as f:
        f.write(f"security:\n  model_trust_store: {trust}\n")
    pulled = runner.invoke(main, ["models", "pull", "--product", product, "--mlflow", mlflow_uri,
                                  "--config", str(station_yaml)])
    assert pulled.exit_code != 0 and "published unsigned" in pulled.output


def test_a_station_with_a_trust_store_refuses_an_unsigned_line_model_and_runs_its_cached_one(
        tmp_path: Path, station_yaml: Path, tiny_model: Path, mlflow_uri: str) -> None:
    import shutil

    key, trust, _ = _keys(tmp_path)
    product = f"board-{uuid.uuid4().hex[:8]}"
    engineer = ModelRegistry(tmp_path / "engineer")
    unsigned = tmp_path / "unsigned.pt"
    shutil.copy(tiny_model, unsigned)
    with unsigned.open("ab") as f:
        f.write(b"\0")
    record = engineer.register(unsigned, product)
    engineer.promote(record.id, "qe.anna")
    publish(ModelHubConfig(tracking_uri=mlflow_uri, timeout_s=60), engineer, record.id, "qe.anna")

    config_path = _hub_station(tmp_path, station_yaml, tiny_model, mlflow_uri)
    config_path.with_name("recipe.yaml").write_text(f"name: test-board\nregistry_product: {product}\n"
                                                    "deadline_ms: 60000\n", encoding="utf-8")
    with config_path.open("a", encoding="utf-8") as f:
        f.write(f"security:\n  model_trust_store: {trust}\n")
    config = load_station_config(config_path)
    station_registry = ModelRegistry(config.registry_dir)
    cached = station_registry.register(tiny_model, product, signing_key=key)
    station_registry.promote(cached.id, "station line1 (mlflow v1)")
    station_registry.close()
    with Station(config) as station:
        assert station.detector is not None and station.detector.model_id.endswith(f"@{cached.sha256[:12]}")
        assert station.store is not None
        (event,) = [e for e in station.store.events() if e["kind"] == "model_hub"]
        assert event["level"] == "alarm" and "published unsigned" in event["message"]
        assert f"running the cached production model {cached.id}" in event["message"]
    assert [r.id for r in ModelRegistry(config.registry_dir).list(product)] == [cached.id]  # never entered


def test_a_line_model_of_other_classes_leaves_the_cached_model_running(tmp_path: Path, station_yaml: Path,
                                                                         tiny_model: Path, mlflow_uri: str) -> None:
    """MLflow's production model for this product detects other classes than this station's recipe names.
    It was promoted locally before the recipe could refuse it, so the good cached model was gone and the
    station could not start even with MLflow away. Now the cached model is put back and runs, with an alarm."""
    from training.testing import untrained_yolo

    product = "board-classes"
    engineer = ModelRegistry(tmp_path / "engineer")
    foreign = engineer.register(untrained_yolo(tmp_path / "paint.pt", ("scratch", "dent")), product)
    engineer.promote(foreign.id, "qe.anna")
    publish(ModelHubConfig(tracking_uri=mlflow_uri, timeout_s=60), engineer, foreign.id, "qe.anna")
    config_path = _hub_station(tmp_path, station_yaml, tiny_model, mlflow_uri)
    config_path.with_name("recipe.yaml").write_text(f"name: test-board\nregistry_product: {product}\n"
                                                    "deadline_ms: 60000\nclasses:\n  bridge: {}\n", encoding="utf-8")
    config = load_station_config(config_path)
    registry = ModelRegistry(config.registry_dir)
    cached = registry.register(tiny_model, product)
    registry.promote(cached.id, "station line1")
    registry.close()
    with Station(config) as station:
        assert station.detector is not None and station.detector.model_id.endswith(f"@{cached.sha256[:12]}")
        assert station.store is not None
        alarms = [e for e in station.store.events() if e["kind"] == "model_hub" and e["level"] == "alarm"]
        assert alarms and "does not fit recipe test-board" in alarms[0]["message"]
        assert f"running the cached production model {cached.id}" in alarms[0]["message"]
    registry = ModelRegistry(config.registry_dir)
    assert registry.production(product).id == cached.id  # still there for the next start without MLflow
    registry.close()
