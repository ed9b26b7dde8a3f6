"""The live demo: bundled parts looping at line rate, a real Modbus PLC simulator and the process twin."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.records.store import Store
from inspection.runtime.pipeline import Station
from inspection.simulation.live_demo import live_demo, live_overrides

pytestmark = pytest.mark.plc


def test_overrides_loop_the_parts_and_add_the_peers() -> None:
    changes = live_overrides("solder", plc_port=1502)
    assert changes["cameras"][0]["loop"] is True and changes["cameras"][0]["rate_hz"] == 10
    assert changes["output"]["kind"] == "modbus" and changes["output"]["port"] == 1502
    assert changes["process"]["port"] == {"kind": "twin", "process": "solder"}
    assert "process" not in live_overrides("board") and "output" not in live_overrides("paint", plc_port=None)


def test_the_demo_runs_past_its_24_parts_with_plc_and_controller(tmp_path: Path) -> None:
    with live_demo("solder", overrides={"data_dir": str(tmp_path), "cameras": [
            {"kind": "replay", "id": "cam0", "path": "parts/solder", "loop": True, "rate_hz": 40}]}) as live:
        with Station(live.config, db_path=tmp_path / "s.db") as line:
            assert line.feedback is not None  # the controller steers the in-process twin
            summary = line.run(max_parts=30)
        writes = live.plc.writes
    assert summary.parts == 30 and writes > 0  # every verdict reached the PLC simulator
    with Store(tmp_path / "s.db") as store:
        rows = store.query("select part_key from inspections")
        process_rows = list(store.db["process_parts"].rows)
    assert len(rows) == 30 and len({r["part_key"] for r in rows}) == 30  # the second pass is new parts
    assert len(process_rows) == 30


def test_headless_demo_is_finite_by_default_and_loops_on_request(tmp_path: Path) -> None:
    result = CliRunner().invoke(station, ["demo", "--headless", "--loop", "--max-parts", "26", "-q",
                                          "--db", str(tmp_path / "loop.db")], env={"STATION_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "parts      26" in result.output
    result = CliRunner().invoke(station, ["demo", "--once", "--loop"])
    assert result.exit_code == 2 and "exclude each other" in result.output
