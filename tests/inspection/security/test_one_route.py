"""The CLI decides through the console's core functions: a logged-in account, role-checked, audited."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from inspection.cli import station
from inspection.domain.permissions import Role
from inspection.models.registry import ModelRegistry
from inspection.people.accounts import Accounts
from inspection.people.audit import AuditLog
from inspection.records.store import Store
from inspection.security.audit_chain import verify_file


def _checkpoint(path: Path, content: str) -> Path:
    buffer = io.BytesIO()
    torch.save({"weights": content}, buffer)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def setup(tmp_path: Path):
    db, reg = tmp_path / "station.db", tmp_path / "reg"
    with Store(db) as store:
        accounts = Accounts(store)
        admin = accounts.create("alice", Role.ADMIN, "alice-secret")
        accounts.create("ed", Role.ENGINEER, "ed-secret", by=admin)
        accounts.create("olga", Role.OPERATOR, "olga-secret", by=admin)
    registry = ModelRegistry(reg)
    good = registry.register(_checkpoint(tmp_path / "a.pt", "a"), "board",
                             metrics={"escape_rate": 0.05, "false_reject_rate": 0.0})
    worse = registry.register(_checkpoint(tmp_path / "b.pt", "b"), "board",
                              metrics={"escape_rate": 0.20, "false_reject_rate": 0.0})
    registry.close()
    return db, reg, good.id, worse.id


def _as(monkeypatch, user: str | None, secret: str | None = None) -> None:
    for key, value in (("STATION_USER", user), ("STATION_PASSWORD", secret)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


def _promote(reg: Path, db: Path, model_id: str, *extra: str, stdin: str | None = None):
    return CliRunner().invoke(station, ["models", "promote", model_id, "--registry", str(reg), "--db", str(db),
                                        *extra], input=stdin)


def test_free_text_name_is_gone(setup):
    _db, reg, good, _ = setup
    result = CliRunner().invoke(station, ["models", "promote", good, "--registry", str(reg), "--by", "alice"])
    assert result.exit_code == 2 and "No such option '--by'" in result.output


def test_no_login_no_decision(setup, monkeypatch):
    db, reg, good, _ = setup
    _as(monkeypatch, None)
    result = _promote(reg, db, good, stdin="alice\nguess\n")  # the prompt, with a wrong secret
    assert result.exit_code == 8 and "wrong PIN/password" in result.output
    assert ModelRegistry(reg).production("board") is None


def test_operator_refused_engineer_allowed_force_admin_only(setup, monkeypatch):
    db, reg, good, worse = setup
    _as(monkeypatch, "olga", "olga-secret")
    result = _promote(reg, db, good)
    assert result.exit_code == 8 and "may not promote a candidate model" in result.output
    _as(monkeypatch, "ed", "ed-secret")
    assert _promote(reg, db, good).exit_code == 0
    result = _promote(reg, db, worse)
    assert result.exit_code == 3 and "blocked by the gate" in result.output
    result = _promote(reg, db, worse, "--force")
    assert result.exit_code == 8 and "may not promote a model the promotion gate blocks" in result.output
    _as(monkeypatch, "alice", "alice-secret")
    result = _promote(reg, db, worse, "--force")
    assert result.exit_code == 0, result.output
    rollback = CliRunner().invoke(station, ["models", "rollback", "--product", "board", "--registry", str(reg),
                                            "--db", str(db)])
    assert rollback.exit_code == 0 and f"{good} is production again" in rollback.output
    history = ModelRegistry(reg).history("board")
    assert [(h["action"], h["by"]) for h in history if h["action"] != "register"] == [
        ("promote", "ed"), ("force-promote", "alice"), ("rollback", "alice")]
    with Store(db) as store:
        rows = [(e["username"], e["action"], e["allowed"], json.loads(e["detail"]).get("force"))
                for e in reversed(AuditLog(store).entries()) if e["action"] != "login"]
    assert ("olga", "promote_model", 0, False) in rows
    assert ("ed", "force_promote_model", 0, True) in rows
    assert ("alice", "force_promote_model", 1, True) in rows and ("alice", "rollback_model", 1, None) in rows
    assert verify_file(db).ok


def test_token_from_the_environment(setup, monkeypatch):
    db, reg, good, _ = setup
    _as(monkeypatch, "ed", "ed-secret")
    token = CliRunner().invoke(station, ["users", "token", "--db", str(db), "--hours", "1"]).output.strip()
    assert token.startswith("stn_")
    _as(monkeypatch, None)
    monkeypatch.setenv("STATION_TOKEN", token)
    assert _promote(reg, db, good).exit_code == 0
    monkeypatch.setenv("STATION_TOKEN", token[:-2] + "xx")
    result = _promote(reg, db, good)
    assert result.exit_code == 8 and "unknown or expired" in result.output


def test_an_engineer_cannot_widen_the_gate_an_admin_can_and_it_is_audited(setup, monkeypatch):
    """Widening the gate (`--max-false-reject-increase 1`) promotes what the default gate blocks: the same
    decision as --force, so the same rule: admins only, the gate used in the audit row."""
    db, reg, good, _ = setup
    _as(monkeypatch, "ed", "ed-secret")
    result = _promote(reg, db, good, "--max-false-reject-increase", "1")
    assert result.exit_code == 8 and "may not promote a model the promotion gate blocks" in result.output
    assert ModelRegistry(reg).production("board") is None
    _as(monkeypatch, "alice", "alice-secret")
    assert _promote(reg, db, good, "--max-false-reject-increase", "1").exit_code == 0
    with Store(db) as store:
        gates = [json.loads(e["detail"]).get("gate") for e in AuditLog(store).entries()
                 if e["action"] == "force_promote_model"]
    assert {g["max_false_reject_increase"] for g in gates} == {1.0}
