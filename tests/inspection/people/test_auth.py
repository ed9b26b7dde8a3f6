"""Accounts, roles and permissions (enforced in the core), the audit log and the override review queue."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from inspection.domain.permissions import (
    PERMISSIONS,
    AccessDenied,
    AuthError,
    Role,
    User,
    hash_secret,
    require,
    verify_secret,
)
from inspection.domain.types import Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.errors import StationError
from inspection.people.accounts import Accounts
from inspection.people.audit import AuditLog, Operations, OverrideError, OverrideRequest
from inspection.records.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "station.db") as s:
        yield s


@pytest.fixture
def accounts(store: Store) -> Accounts:
    acc = Accounts(store)
    admin = acc.create("alice", "admin", "9876")
    acc.create("ed", Role.ENGINEER, "2468", by=admin)
    acc.create("olga", Role.OPERATOR, "1357", by=admin)
    acc.create("oscar", Role.OPERATOR, "1111", by=admin)
    return acc


def _log_part(store: Store, status: VerdictStatus = VerdictStatus.FAIL) -> int:
    frame = Frame(np.zeros((8, 8, 3), np.uint8), "cam0", 1, time.time(), part_id="P-1")
    verdict = Verdict(status, (Reason("defect", "bridge ×1"),) if status.rejects else ())
    return store.record(Inspection(frame, (), verdict))


def test_secret_hash_is_salted_and_verifies() -> None:
    a, b = hash_secret("1234"), hash_secret("1234")
    assert a != b and "1234" not in a
    assert verify_secret("1234", a) and verify_secret("1234", b)
    assert not verify_secret("1235", a)
    assert not verify_secret("1234", "garbage") and not verify_secret("1234", "md5$x$y$z$aa$bb")


def test_authenticate_returns_role_and_rejects_bad_secrets(accounts: Accounts) -> None:
    assert accounts.authenticate("ed", "2468") == User("ed", Role.ENGINEER)
    with pytest.raises(AuthError, match="unknown user or wrong"):
        accounts.authenticate("ed", "0000")
    with pytest.raises(AuthError, match="unknown user or wrong"):
        accounts.authenticate("nobody", "2468")
    row = accounts.store.query("select secret from users where username = 'ed'")[0]
    assert "2468" not in row["secret"]


def test_only_admin_creates_accounts_after_the_first(accounts: Accounts) -> None:
    ed = accounts.authenticate("ed", "2468")
    with pytest.raises(AccessDenied, match="admin"):
        accounts.create("mallory", "admin", "4444", by=ed)
    with pytest.raises(AccessDenied):
        accounts.create("mallory", "admin", "4444")
    admin = accounts.authenticate("alice", "9876")
    accounts.disable("oscar", by=admin)
    with pytest.raises(AuthError):
        accounts.authenticate("oscar", "1111")
    audited = [(e["username"], e["action"], e["detail"]) for e in AuditLog(accounts.store).entries()]
    assert audited[0][:2] == ("alice", "disable_user") and ("alice", "create_user") in {a[:2] for a in audited}


@pytest.mark.parametrize(("name", "role", "secret", "message"), [
    ("bad name!", "operator", "1234", "user name"),
    ("zoe", "superuser", "1234", "role"),
    ("zoe", "operator", "12", "at least 4"),
    ("ed", "operator", "1234", "already exists"),
])
def test_bad_account_requests_say_what_to_fix(accounts: Accounts, name: str, role: str, secret: str,
                                              message: str) -> None:
    admin = accounts.authenticate("alice", "9876")
    with pytest.raises(AuthError, match=message):
        accounts.create(name, role, secret, by=admin)


def test_role_permissions_nest() -> None:
    assert PERMISSIONS[Role.OPERATOR] < PERMISSIONS[Role.ENGINEER] < PERMISSIONS[Role.ADMIN]
    operator = User("o", Role.OPERATOR)
    require(operator, "override")
    for action in ("review", "export", "manage_users", "controller"):
        with pytest.raises(AccessDenied) as info:
            require(operator, action)
        assert isinstance(info.value, StationError) and isinstance(info.value, PermissionError)
    with pytest.raises(AccessDenied, match="not logged in"):
        require(None, "run")
    with pytest.raises(ValueError, match="unknown action"):
        require(operator, "launch_missiles")


def test_override_is_stored_queued_and_reviewed_by_someone_else(store: Store, accounts: Accounts) -> None:
    ops = Operations(store)
    part = _log_part(store)
    olga, ed = accounts.authenticate("olga", "1357"), accounts.authenticate("ed", "2468")
    oid = ops.override(olga, OverrideRequest(part, VerdictStatus.PASS, "flux residue, not a bridge"))
    queue = ops.review_queue()
    assert [(q["id"], q["old_verdict"], q["new_verdict"], q["username"]) for q in queue] == [
        (oid, "FAIL", "PASS", "olga")]
    assert store.query("select verdict from inspections where id = ?", [part])[0]["verdict"] == "FAIL"
    with pytest.raises(AccessDenied):
        ops.review(olga, oid, "approved")
    ops.review(ed, oid, "approved", "agreed")
    assert ops.review_queue() == []
    assert ops.overrides_for(part)[0]["status"] == "approved"
    with pytest.raises(OverrideError, match="already approved"):
        ops.review(ed, oid, "rejected")
    actions = [(e["username"], e["action"], e["allowed"]) for e in AuditLog(store).entries()]
    assert ("olga", "override", 1) in actions and ("olga", "review", 0) in actions
    assert ("ed", "review", 1) in actions


def test_engineer_cannot_review_own_override(store: Store, accounts: Accounts) -> None:
    ops = Operations(store)
    ed = accounts.authenticate("ed", "2468")
    oid = ops.override(ed, OverrideRequest(_log_part(store), VerdictStatus.PASS, "false call on fiducial"))
    with pytest.raises(AccessDenied, match="own override"):
        ops.review(ed, oid, "approved")


@pytest.mark.parametrize(("reason", "verdict", "part", "message"), [
    ("", VerdictStatus.PASS, None, "give a reason"),
    ("ok", VerdictStatus.PASS, None, "give a reason"),
    ("it is a real bridge", VerdictStatus.FAIL, None, "already is FAIL"),
    ("solder looks fine", VerdictStatus.PASS, 999, "no part #999"),
])
def test_bad_override_requests_are_refused(store: Store, accounts: Accounts, reason: str,
                                           verdict: VerdictStatus, part: int | None, message: str) -> None:
    part_id = _log_part(store) if part is None else part
    with pytest.raises(OverrideError, match=message):
        Operations(store).override(accounts.authenticate("olga", "1357"), OverrideRequest(part_id, verdict, reason))
    assert Operations(store).review_queue() == []


def test_denied_action_is_audited(store: Store) -> None:
    ops = Operations(store)
    with pytest.raises(AccessDenied):
        ops.authorize(User("olga", Role.OPERATOR), "export", "history.csv")
    ops.authorize(User("olga", Role.OPERATOR), "run", "start")
    entries = AuditLog(store).entries()
    assert [(e["action"], e["allowed"]) for e in entries] == [("run", 1), ("export", 0)]
