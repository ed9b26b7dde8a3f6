"""Outside peers fail mid-run: the PLC server is killed and restarted (real pymodbus server), the MQTT broker is
killed (a real mosquitto), the model file is removed or replaced, the wall clock jumps. Every part still gets
one verdict and one row; an outage is one alarm (not one per part), cleared when the peer is back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import inspection.camera.replay as replay_module
from inspection.errors import ModelError
from inspection.outputs.modbus_sim import ModbusSim
from inspection.outputs.plc_sim import free_port
from inspection.runtime.pipeline import Station

from .conftest import FAST_PLC, run_station, write_parts


def _at_part(actions: dict[int, Callable[[], None]]) -> Callable[[Station, list[Any]], None]:
    """A listener hook: run actions[k] once when the k-th verdict has been seen."""
    done: set[int] = set()

    def during(station: Station, seen: list[Any]) -> None:
        for k, action in actions.items():
            if len(seen) >= k and k not in done:
                done.add(k)
                action()

    return during


@pytest.mark.plc
def test_plc_server_killed_and_restarted_is_one_alarm_and_every_verdict_is_logged(
        tmp_path: Path, station_config: Callable[..., Any]) -> None:
    parts = 40
    sim = ModbusSim().start()
    try:
        config = station_config(parts=write_parts(tmp_path / "parts", parts), camera={"rate_hz": 40.0},
                                output={"kind": "modbus", "port": sim.port, **FAST_PLC})
        run = run_station(config, during=_at_part({8: sim.stop, 20: sim.start}))
        run.assert_accounted(parts)
        output_alarms, lost = run.alarms("output_error"), run.alarms("plc_connection_lost")
        assert len(output_alarms) == 1 and len(lost) == 1  # 12+ failed writes: one alarm each, not a flood
        cleared = {e["kind"]: json.loads(e["data"]) for e in run.events if e["kind"].endswith("_cleared")}
        assert cleared["output_error_cleared"]["count"] == run.station.output.stats.undelivered >= 5  # type: ignore
        assert "plc_connection_lost_cleared" in cleared  # so a second outage is a new alarm
        assert sim.read("outputs.sequence") == parts  # the line gets verdicts again after the restart
        assert run.summary.fault is None
    finally:
        sim.stop()


def _mosquitto(port: int, folder: Path) -> subprocess.Popen[bytes]:
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 5
    while time.monotonic() < end:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return broker
        time.sleep(0.05)
    broker.kill()
    pytest.skip("mosquitto did not start listening")


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs the mosquitto broker binary")
def test_broker_killed_mid_run_costs_no_verdict(tmp_path: Path, station_config: Callable[..., Any]) -> None:
    parts, port = 30, free_port()
    broker = _mosquitto(port, tmp_path)
    try:
        config = station_config(parts=write_parts(tmp_path / "parts", parts), camera={"rate_hz": 40.0},
                                telemetry=[{"kind": "mqtt", "port": port, "connect_timeout_s": 1.0,
                                            "reconnect_max_s": 0.5, "close_timeout_s": 0.5}])
        run = run_station(config, during=_at_part({10: lambda: os.kill(broker.pid, signal.SIGKILL)}))
        run.assert_accounted(parts)
        assert run.summary.fault is None
        # A live camera on a loaded CI box may overflow its queue (queue_full, still a verdict and a row);
        # nothing else may fail safe: the broker is not on the verdict path.
        assert {i.verdict.reasons[0].code for i in run.seen if i.verdict.failsafe} <= {"queue_full"}
        assert any(e["level"] == "alarm" and "mqtt" in (e["kind"] + e["message"]).lower() for e in run.events)
    finally:
        broker.kill()
        broker.wait(5)


@pytest.mark.parametrize("change", ["removed", "replaced"])
def test_model_file_removed_or_replaced_mid_run(change: str, tmp_path: Path, fault_model: Path,
                                                station_config: Callable[..., Any]) -> None:
    """The loaded model keeps inspecting; the file change shows at the next start, as a ModelError (exit 3)."""
    model = tmp_path / "model" / fault_model.name
    model.parent.mkdir()
    shutil.copy(fault_model, model)
    shutil.copy(fault_model.with_suffix(".onnx"), model.with_suffix(".onnx"))
    config = station_config(parts=write_parts(tmp_path / "parts", 16), recipe={"model": str(model)})

    def change_files() -> None:
        for path in (model, model.with_suffix(".onnx")):
            path.unlink()
            if change == "replaced":
                path.write_bytes(b"not a model any more")

    run = run_station(config, during=_at_part({4: change_files}))
    run.assert_accounted(16)
    assert run.summary.failsafe == 0 and len({i.model_id for i in run.seen}) == 1
    with pytest.raises(ModelError) as refused:
        Station(config).open()
    assert refused.value.exit_code == 3


class _JumpingClock:
    """The replay camera's `time` module with a wall clock that jumps back an hour, then forward a day."""

    def __init__(self) -> None:
        self.calls = 0

    def time(self) -> float:
        self.calls += 1
        offset = -3600.0 if 4 <= self.calls < 10 else (86400.0 if self.calls >= 10 else 0.0)
        return time.time() + offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def test_wall_clock_jump_changes_no_verdict(tmp_path: Path, station_config: Callable[..., Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Deadlines run on the monotonic clock: a wall-clock jump (NTP step, DST bug) fails no part; rows and
    archived images keep the camera's timestamps, whatever they say."""
    monkeypatch.setattr(replay_module, "time", _JumpingClock())
    config = station_config(parts=write_parts(tmp_path / "parts", 16), recipe={"deadline_ms": 5000.0},
                            store={"keep_images": "all"})
    run = run_station(config)
    run.assert_accounted(16)
    assert run.summary.failsafe == 0
    stamps = [r["timestamp_s"] for r in sorted(run.rows, key=lambda r: r["sequence"])]
    assert stamps[5] < stamps[2] < stamps[12]  # the jumps are logged as the camera saw them
    assert all(Path(r["image_path"]).is_file() for r in run.rows)


@pytest.mark.plc
def test_an_outage_is_one_alarm_per_run_not_one_per_part(tmp_path: Path, station_config: Callable[..., Any]) -> None:
    """The PLC is away for two runs of the same station (a pause and resume in the console): one `output_error`
    event per run, each with the count of the verdicts it covered."""
    config = station_config(output={"kind": "modbus", "port": free_port(), **FAST_PLC})
    with Station(config) as station:
        first = station.run(max_parts=4)
        second = station.run(max_parts=4)
        assert first.parts == second.parts == 4
        events = station.store.events()  # type: ignore[union-attr]
        folded = [a for a in station.alarms.active() if a.kind == "output_error"]
    assert [e["kind"] for e in events if e["kind"].startswith("output_error")] == [
        "output_error", "output_error_cleared", "output_error"]
    assert json.loads(next(e for e in events if e["kind"] == "output_error_cleared")["data"])["count"] == 4
    assert len(folded) == 1 and folded[0].count == 4
