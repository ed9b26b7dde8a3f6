"""The audit log cannot be rewritten quietly: triggers refuse UPDATE/DELETE, the hash chain shows any edit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.domain.permissions import Role, User
from inspection.people.accounts import Accounts
from inspection.people.audit import AuditLog
from inspection.records.store import Store
from inspection.security import audit_chain

ADMIN, OPERATOR = User("alice", Role.ADMIN), User("olga", Role.OPERATOR)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "station.db"
    with Store(path) as store:
        log = AuditLog(store)
        log.record(ADMIN, "promote_model", {"model_id": "board-1"})
        log.record(OPERATOR, "override", {"inspection_id": 7})
        log.record(ADMIN, "configure", "threshold 0.4")
    return path


def _verify(db: Path, *extra: str):
    return CliRunner().invoke(station, ["audit", "verify", "--db", str(db), *extra])


def test_intact_chain_verifies(db):
    result = _verify(db)
    assert result.exit_code == 0, result.output
    assert "3 rows, chain intact" in result.output


@pytest.mark.parametrize("sql", ["update audit set username = 'olga' where id = 1", "delete from audit where id = 2"])
def test_update_and_delete_are_refused(db, sql):
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(sql)
    conn.close()


def _tamper(db: Path, sql: str) -> None:
    """What an attacker with write access to the file does: drop the triggers first."""
    conn = sqlite3.connect(db)
    conn.execute("drop trigger audit_no_update")
    conn.execute("drop trigger audit_no_delete")
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_reattributed_row_is_named(db):
    _tamper(db, "update audit set username = 'olga', role = 'operator' where id = 1")
    result = _verify(db)
    assert result.exit_code == 10
    assert "broken at row 1" in result.output and "changed after it was written" in result.output


def test_deleted_row_is_named(db):
    _tamper(db, "delete from audit where id = 2")
    result = _verify(db)
    assert result.exit_code == 10 and "broken at row 3" in result.output and "row 2 is missing" in result.output


def test_rehashed_forgery_is_caught_by_the_exported_head(db):
    conn = sqlite3.connect(db)
    head = audit_chain.head(conn)
    conn.close()
    # A careful attacker edits row 2 and recomputes every hash from there on: the local chain verifies…
    _tamper(db, "update audit set detail = '{\"inspection_id\": 8}' where id = 2")
    conn = sqlite3.connect(db)
    prev = conn.execute("select row_hash from audit where id = 1").fetchone()[0]
    names = [d[1] for d in conn.execute("pragma table_info(audit)")]
    for values in conn.execute("select * from audit where id >= 2 order by id").fetchall():
        row = dict(zip(names, values, strict=True)) | {"prev_hash": prev}
        prev = audit_chain.row_hash(row)
        conn.execute("update audit set prev_hash = ?, row_hash = ? where id = ?", (row["prev_hash"], prev, row["id"]))
    conn.commit()
    conn.close()
    assert _verify(db).exit_code == 0
    # …but not against the head exported with the telemetry before the edit.
    result = _verify(db, "--head", f"{head.id}:{head.row_hash}")
    assert result.exit_code == 10 and "rewritten" in result.output


def test_rows_cut_off_the_end_are_caught_by_the_exported_head(db):
    conn = sqlite3.connect(db)
    head = audit_chain.head(conn)
    conn.close()
    _tamper(db, "delete from audit where id = 3")
    assert _verify(db).exit_code == 0
    result = _verify(db, "--head", f"{head.id}:{head.row_hash}")
    assert result.exit_code == 10 and "cut off the end" in result.output


def test_an_old_database_is_chained_when_opened(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("create table audit (id integer primary key, time text, timestamp_s float, username text, "
                 "role text, action text, detail text, allowed integer)")
    conn.execute("insert into audit values (1, 't', 1.0, 'alice', 'admin', 'configure', '', 1)")
    conn.commit()
    conn.close()
    with Store(path) as store:
        AuditLog(store).record(ADMIN, "configure", "after the upgrade")
    result = _verify(path)
    assert result.exit_code == 0 and "2 rows" in result.output


def test_first_admin_from_the_cli_is_audited_and_later_ones_need_an_admin(tmp_path, monkeypatch):
    path = tmp_path / "station.db"
    monkeypatch.setenv("STATION_PASSWORD", "first-admin-pw")
    runner = CliRunner()
    result = runner.invoke(station, ["users", "add", "alice", "--role", "admin", "--db", str(path)])
    assert result.exit_code == 0, result.output
    # A second account: the acting user must log in as an admin (here: a wrong password, then an operator).
    monkeypatch.setenv("STATION_USER", "alice")
    monkeypatch.setenv("STATION_PASSWORD", "wrong-password")
    result = runner.invoke(station, ["users", "add", "mallory", "--role", "admin", "--db", str(path)])
    assert result.exit_code == 8 and "wrong PIN/password" in result.output
    with Store(path) as store:
        Accounts(store).create("olga", Role.OPERATOR, "operator-pw", by=User("alice", Role.ADMIN))
    monkeypatch.setenv("STATION_USER", "olga")
    monkeypatch.setenv("STATION_PASSWORD", "operator-pw")
    result = runner.invoke(station, ["users", "add", "mallory", "--role", "admin", "--db", str(path)])
    assert result.exit_code == 8 and "may not create and disable accounts" in result.output
    with Store(path) as store:
        actions = [(e["action"], e["allowed"]) for e in AuditLog(store).entries()]
        assert ("create_user", 1) in actions and ("login_failed", 0) in actions
        assert [u.username for u in Accounts(store).users()] == ["alice", "olga"]
    assert _verify(path).exit_code == 0


def test_chain_head_is_published_with_the_telemetry_counts(db):
    from inspection.security.audit_chain import HeadReader
    from inspection.telemetry import TelemetryState

    state = TelemetryState(["bridge"])
    assert "audit_head" not in state.counts_payload()
    reader = HeadReader(db, max_age_s=0.0)
    state.audit_head = reader
    published = state.counts_payload()["audit_head"]
    reader.close()
    assert published["id"] == 3
    assert _verify(db, "--head", f"{published['id']}:{published['row_hash']}").exit_code == 0
