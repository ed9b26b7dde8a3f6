"""Accounts under attack: online PIN guessing, name probing by timing, weak stored hashes."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

import inspection.domain.permissions as auth
from inspection.domain.permissions import AuthError, Role, User
from inspection.people.accounts import Accounts
from inspection.people.audit import AuditLog
from inspection.records.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "station.db") as s:
        yield s


def test_guessing_backs_off_then_locks_out_and_every_failure_is_audited(store):
    clock = Clock()
    accounts = Accounts(store, clock=clock)
    admin = accounts.create("alice", Role.ADMIN, "correct-horse")
    for _ in range(auth.FREE_FAILURES):
        with pytest.raises(AuthError, match="wrong PIN"):
            accounts.authenticate("alice", "000000")
    # From now on every guess must wait; a guess during the wait is refused without checking the secret.
    with pytest.raises(AuthError, match="try again in"):
        accounts.authenticate("alice", "correct-horse")
    failures = auth.FREE_FAILURES
    while failures < auth.LOCKOUT_FAILURES:
        clock.now += auth.MAX_BACKOFF_S
        with pytest.raises(AuthError, match="wrong PIN"):
            accounts.authenticate("alice", "000000")
        failures += 1
    clock.now += auth.MAX_BACKOFF_S
    with pytest.raises(AuthError, match="locked"):
        accounts.authenticate("alice", "correct-horse")  # even the right secret
    audited = [e for e in AuditLog(store).entries(100) if e["action"] == "login_failed"]
    assert len(audited) == auth.LOCKOUT_FAILURES + 2 and all(e["allowed"] == 0 for e in audited)
    accounts.unlock("alice", by=admin)
    assert accounts.authenticate("alice", "correct-horse") == User("alice", Role.ADMIN)
    # Guessing rate: LOCKOUT_FAILURES guesses per LOCKOUT_S at best -> a 6-digit PIN needs years.
    guesses_per_hour = auth.LOCKOUT_FAILURES * 3600 / auth.LOCKOUT_S
    assert 10**6 / 2 / guesses_per_hour / 24 / 365 > 1


def test_unknown_names_are_throttled_too(store):
    clock = Clock()
    accounts = Accounts(store, clock=clock)
    accounts.create("alice", Role.ADMIN, "correct-horse")
    for _ in range(auth.FREE_FAILURES):
        with pytest.raises(AuthError, match="unknown user or wrong PIN/password"):
            accounts.authenticate("nobody", "000000")
    with pytest.raises(AuthError, match="try again in"):
        accounts.authenticate("nobody", "000000")


def test_unknown_user_costs_the_same_scrypt_work(store, monkeypatch):
    monkeypatch.setattr(auth, "_SCRYPT_N", 2**14)  # measurable, still fast
    accounts = Accounts(store, clock=Clock())
    accounts.create("alice", Role.ADMIN, "correct-horse")

    def timed(name: str) -> float:
        start = time.perf_counter()
        with pytest.raises(AuthError):
            accounts.authenticate(name, "wrong-one")
        return time.perf_counter() - start

    known, unknown = [], []
    for i in range(3):  # interleaved, fresh names: neither side is throttled
        store.db["login_attempts"].delete_where()
        known.append(timed("alice"))
        unknown.append(timed(f"ghost{i}"))
    # Before the fix an unknown name answered in microseconds, a known one in tens of milliseconds.
    assert statistics.median(unknown) > 0.5 * statistics.median(known)


def test_pins_shorter_than_six_are_refused(store):
    accounts = Accounts(store, min_secret_len=4)  # a lower minimum cannot be asked for
    with pytest.raises(AuthError, match="at least 6"):
        accounts.create("alice", Role.ADMIN, "12345")


def test_production_cost_and_rehash_on_login(store, monkeypatch):
    accounts = Accounts(store, clock=Clock())
    accounts.create("alice", Role.ADMIN, "correct-horse")  # at the tests' cheap cost
    assert store.query("select secret from users")[0]["secret"].startswith("scrypt$4096$")
    monkeypatch.undo()  # the shipped cost
    assert auth._SCRYPT_N == 2**17
    accounts.authenticate("alice", "correct-horse")
    assert store.query("select secret from users")[0]["secret"].startswith("scrypt$131072$8$1$")
    assert accounts.authenticate("alice", "correct-horse").username == "alice"


def test_planted_hash_with_absurd_cost_is_refused_quickly(store):
    assert not auth.verify_secret("x", "scrypt$1073741824$8$1$00$00")
