"""The database itself cannot take a verdict: locked by another writer (another process), disk full (a real small
tmpfs). Verdicts wait in a bounded spool and are written when the database is back; when the spool is full the
station stops the line (ready off, fault on, alarm) instead of inspecting unlogged."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from inspection.errors import StoreError
from inspection.outputs.modbus_sim import ModbusSim
from inspection.runtime.pipeline import Station

from .conftest import FAST_PLC, fill_up, run_station, write_parts

PARTS = 16
LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("begin exclusive")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("commit")
"""


def _at_row(k: int, action: Callable[[], None]) -> Callable[[Station], None]:
    """Run `action` on the recorder thread just before verdict row number k is written (deterministic)."""

    def rig(station: Station) -> None:
        assert station.store is not None
        real = station.store.record_row
        calls = [0]

        def record_row(*args: Any, **kwargs: Any) -> Any:
            if calls[0] == k:
                action()
            calls[0] += 1
            return real(*args, **kwargs)

        station.store.record_row = record_row  # type: ignore[method-assign]

    return rig


def _lock_from_another_process(db: Path, seconds: float) -> Callable[[], None]:
    def lock() -> None:
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db), str(seconds)], stdout=subprocess.PIPE,
                                  text=True)
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"

    return lock


def test_a_short_lock_is_waited_out_within_the_busy_timeout(tmp_path: Path,
                                                            station_config: Callable[..., Any]) -> None:
    db = tmp_path / "data" / "station.db"
    config = station_config(parts=write_parts(tmp_path / "parts", PARTS), store={"busy_timeout_s": 3.0})
    run = run_station(config, prepare=_at_row(5, _lock_from_another_process(db, 0.5)))
    run.assert_accounted(PARTS)
    assert not run.alarms("db_unavailable")


def test_a_long_lock_spools_verdicts_and_writes_them_when_the_database_is_back(
        tmp_path: Path, station_config: Callable[..., Any]) -> None:
    db = tmp_path / "data" / "station.db"
    config = station_config(parts=write_parts(tmp_path / "parts", PARTS), store={"busy_timeout_s": 0.1})
    run = run_station(config, prepare=_at_row(5, _lock_from_another_process(db, 1.5)))
    run.assert_accounted(PARTS)
    assert len(run.alarms("db_unavailable")) == 1 and "locked" in run.alarms("db_unavailable")[0]["message"]
    cleared = [e for e in run.events if e["kind"] == "db_unavailable_cleared"]
    assert len(cleared) == 1 and json.loads(cleared[0]["data"])["count"] >= 1
    assert run.summary.fault is None and run.elapsed_s < 30


def _fill(folder: Path) -> Callable[[], None]:
    def fill() -> None:
        fill_up(folder / "filler.bin")

    return fill


def test_database_disk_full_spools_then_writes_when_space_returns(tmp_path: Path, tmpfs: Callable[..., Path],
                                                                  station_config: Callable[..., Any]) -> None:
    data = tmpfs(tmp_path / "dbfs", "2m")
    config = station_config(parts=write_parts(tmp_path / "parts", PARTS),
                            store={"db": str(data / "station.db"), "busy_timeout_s": 0.1})
    filled = [False]

    def fill_then_free() -> None:
        if not filled[0]:
            _fill(data)()
            filled[0] = True

    def rig(station: Station) -> None:
        _at_row(5, fill_then_free)(station)
        _at_row(12, lambda: (data / "filler.bin").unlink())(station)

    run = run_station(config, prepare=rig)
    run.assert_accounted(PARTS)
    assert len(run.alarms("db_unavailable")) == 1 and "full" in run.alarms("db_unavailable")[0]["message"]
    assert run.summary.fault is None


def test_spool_full_stops_the_line_and_the_cli_exits_with_the_store_code(tmp_path: Path, tmpfs: Callable[..., Path],
                                                                         station_config: Callable[..., Any]) -> None:
    data = tmpfs(tmp_path / "dbfs", "2m")
    parts = write_parts(tmp_path / "parts", 40)
    with ModbusSim() as sim:
        config = station_config(parts=parts, store={"db": str(data / "station.db"), "busy_timeout_s": 0.1,
                                                    "spool_size": 3},
                                output={"kind": "modbus", "port": sim.port, **FAST_PLC})
        seen: list[Any] = []
        with Station(config) as station:
            station.runtime_options = station.runtime_options.__class__(
                **{**station.runtime_options.__dict__, "join_timeout_s": 1.0})
            station.listeners.append(seen.append)
            station.warmup()
            _at_row(5, _fill(data))(station)
            summary = station.run()
            assert sim.read("outputs.fault") is True and sim.read("outputs.ready") is False
        assert sim.read("outputs.reject") is True and sim.read("outputs.fault") is True  # left fail-safe at close
        assert isinstance(summary.fault, StoreError) and summary.fault.exit_code == 6
        assert summary.parts == len(seen) < 40  # the line stopped: not every part was taken
        (data / "filler.bin").unlink()
        import sqlite3

        rows = sqlite3.connect(data / "station.db").execute("select count(*) from inspections").fetchone()[0]
        assert rows == 5 and summary.store_errors == summary.parts - 5  # documented: counted, never silent
        kinds = [k for (k,) in sqlite3.connect(data / "station.db").execute(
            "select kind from events where level = 'alarm'")]
        assert "spool_full" in kinds or summary.store_errors  # the event itself may not fit a full disk


def test_cli_run_exits_with_the_fault_code_and_says_why(tmp_path: Path, station_config: Callable[..., Any],
                                                        monkeypatch: Any) -> None:
    from inspection.cli import station as cli

    config = station_config(parts=write_parts(tmp_path / "parts", 20))
    real_warmup = Station.warmup

    def warmup_then_break(self: Station) -> None:
        real_warmup(self)

        def broken(items: Any) -> None:
            raise MemoryError("the accelerator ran out of memory")

        self.detector.forward = broken  # type: ignore[union-attr]
        self.detector.prepare = lambda frame: (_ for _ in ()).throw(KeyboardInterrupt("odd"))  # type: ignore

    monkeypatch.setattr(Station, "warmup", warmup_then_break)
    result = CliRunner().invoke(cli, ["run", "-c", str(config.source_file), "--headless", "-q"])
    assert result.exit_code == 8, result.output
    assert "STOPPED SAFELY" in result.output and "prepare" in result.output
