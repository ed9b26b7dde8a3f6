"""Decisions made as a logged-in user: the role is checked in the core and every attempt is audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspection.domain.permissions import AccessDenied, Role, User
from inspection.errors import ModelError
from inspection.models.registry import ModelRegistry
from inspection.people.approvals import decide_proposal, gate_decision, promote_model, rollback_model
from inspection.people.audit import AuditLog, Operations
from inspection.records.store import Store

ENGINEER = User("qe.anna", Role.ENGINEER)


@pytest.fixture
def ops(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Store(tmp_path / "station.db") as store:
        yield Operations(store)


def _register(registry: ModelRegistry, tmp_path: Path, name: str, escape: float) -> str:
    path = tmp_path / f"{name}.pt"
    path.write_bytes(name.encode())
    return registry.register(path, "board", metrics={"escape_rate": escape, "false_reject_rate": 0.0}).id


def test_promote_and_rollback_as_a_user_are_checked_and_audited(ops: Operations, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "reg")
    first, second = _register(registry, tmp_path, "a", 0.1), _register(registry, tmp_path, "b", 0.05)
    assert gate_decision(registry, first).passed  # nothing in production yet
    promote_model(ops, ENGINEER, registry, first)
    assert not gate_decision(registry, first).passed and "nothing to promote" in str(gate_decision(registry, first))
    with pytest.raises(ModelError, match="already is the production model"):
        promote_model(ops, ENGINEER, registry, first)
    with pytest.raises(AccessDenied, match="may not roll back"):
        rollback_model(ops, User("op", Role.OPERATOR), registry, "board")
    promote_model(ops, ENGINEER, registry, second)
    assert rollback_model(ops, ENGINEER, registry, "board").id == first
    rows = [(e["action"], e["username"], e["allowed"]) for e in reversed(AuditLog(ops.store).entries())]
    assert rows == [("promote_model", "qe.anna", 1), ("promote_model", "qe.anna", 1), ("promote_model", "qe.anna", 0),
                    ("rollback_model", "op", 0), ("promote_model", "qe.anna", 1), ("rollback_model", "qe.anna", 1)]
    registry.close()


def test_unknown_proposal_decision_is_refused_before_anything_happens(ops: Operations) -> None:
    with pytest.raises(ValueError, match="expected one of approve, reject, revert"):
        decide_proposal(ops, ENGINEER, None, 1, "apply")  # type: ignore[arg-type]
    assert AuditLog(ops.store).entries() == []
