"""Ed25519 model signatures: keygen/sign/verify from the CLI, signing at registration, the station's trust store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspection.cli import station as main
from inspection.config import load_station_config
from inspection.errors import ModelError
from inspection.models.registry import ModelRegistry
from inspection.runtime.pipeline import Station
from inspection.security.signing import generate_key, load_trust_store, sign_model, verify_model


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Our key (its .pub in the trust store) and a foreign key (not trusted)."""
    trust = tmp_path / "trust"
    trust.mkdir()
    ours, foreign = tmp_path / "keys" / "ours.key", tmp_path / "keys" / "foreign.key"
    shutil.copy(generate_key(ours), trust / "ours.pub")
    generate_key(foreign)
    return {"ours": ours, "foreign": foreign, "trust": trust}


@pytest.fixture
def model(tmp_path: Path, tiny_model: Path) -> Path:
    copy = tmp_path / "model.pt"
    shutil.copy(tiny_model, copy)
    return copy


def test_cli_keygen_sign_verify(tmp_path, model, keys):
    runner = CliRunner()
    key = tmp_path / "cli.key"
    assert runner.invoke(main, ["models", "keygen", str(key)]).exit_code == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    result = runner.invoke(main, ["models", "verify", str(model), "--trust", str(keys["trust"])])
    assert result.exit_code != 0 and "not signed" in result.output
    assert runner.invoke(main, ["models", "sign", str(model), "--key", str(key),
                                "--registry", str(tmp_path / "reg")]).exit_code == 0
    result = runner.invoke(main, ["models", "verify", str(model), "--trust", str(keys["trust"])])
    assert result.exit_code != 0 and "not in the station's trust store" in result.output
    shutil.copy(f"{key}.pub", keys["trust"] / "cli.pub")
    result = runner.invoke(main, ["models", "verify", str(model), "--trust", str(keys["trust"])])
    assert result.exit_code == 0, result.output
    assert "safe to load" in result.output


def test_tampered_file_fails_verification(model, keys):
    sign_model(model, keys["ours"])
    with model.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="does not match the file"):
        verify_model(model, load_trust_store(keys["trust"]))


def test_key_inside_registry_is_refused(tmp_path, model):
    registry = ModelRegistry(tmp_path / "reg")
    key = tmp_path / "reg" / "inside.key"
    generate_key(key)
    with pytest.raises(ModelError, match="outside the model registry"):
        registry.register(model, "board", signing_key=key)
    assert registry.list() == []
    registry.close()


def test_registered_with_key_is_signed_and_verifies(tmp_path, model, keys):
    registry = ModelRegistry(tmp_path / "reg")
    record = registry.register(model, "board", signing_key=keys["ours"])
    assert verify_model(record.path, load_trust_store(keys["trust"]))
    registry.close()


def test_station_with_trust_store_refuses_unsigned_and_foreign(station_yaml, model, keys):
    overrides = {"detector": {"model": str(model)}, "security": {"model_trust_store": str(keys["trust"])}}
    with pytest.raises(ModelError, match="not signed"):
        Station(load_station_config(station_yaml, overrides)).open()
    sign_model(model, keys["foreign"])
    with pytest.raises(ModelError, match="not in the station's trust store"):
        Station(load_station_config(station_yaml, overrides)).open()
    sign_model(model, keys["ours"])
    station = Station(load_station_config(station_yaml, overrides)).open()
    station.close()


def test_default_policy_loads_unsigned_models(station_yaml):
    """No trust store (the bundled demo's policy): unsigned models load; the safe-load check still applies."""
    station = Station(load_station_config(station_yaml)).open()
    station.close()
