"""The PLC outputs inside the station: chosen by `kind:` from a station YAML, the pipeline's delivery
contract (publish raises only StationError, bounded in time; the verdict log keeps every part), the
`station plc-sim` command, and the GenICam output line on a camera without one (viky)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspection.adapters.registry import create_adapter
from inspection.cli import station
from inspection.config import load_station_config
from inspection.errors import OutputError, StationError
from inspection.outputs import RejectOutput, genicam_line
from inspection.outputs.modbus_sim import ModbusSim
from inspection.outputs.plc_sim import free_port
from inspection.records.store import Store

pytestmark = pytest.mark.plc


def _config(tmp_path: Path, output: str):
    (tmp_path / "recipe.yaml").write_text("name: plc-test\n")
    path = tmp_path / "station.yaml"
    path.write_text(f"recipe: recipe.yaml\ncameras:\n  - kind: replay\n    path: {tmp_path}\n"
                    f"detector:\n  kind: ultralytics\n  model: m.pt\noutput:\n{output}")
    return load_station_config(path)


def test_station_yaml_selects_the_plc_output_and_the_log_keeps_every_part(tmp_path, fast, inspection,
                                                                          wait_until) -> None:
    sim = ModbusSim().start()
    options = "".join(f"  {k}: {v}\n" for k, v in fast.items())
    config = _config(tmp_path, f"  kind: modbus\n  port: {sim.port}\n{options}")
    store = Store(tmp_path / "station.db")
    output = create_adapter("output", config.output, alarm=lambda kind, msg: store.event("alarm", kind, msg))
    assert isinstance(output, RejectOutput)
    alarms: list[str] = []
    try:
        output.open()
        for seq in range(1, 21):
            if seq == 8:
                sim.stop()  # the PLC goes away mid-run
            if seq == 15:
                sim.start()
                assert wait_until(lambda: output.connected)
            item = inspection(seq, "FAIL" if seq % 3 == 0 else "PASS", part_id=str(seq))
            try:  # what the pipeline does: reject output first, alarm on StationError, then log
                output.publish(item)
            except StationError as exc:
                assert isinstance(exc, OutputError)
                alarms.append(str(exc))
                store.event("alarm", "output_error", str(exc))
            store.record(item)
        assert sum(store.counts().values()) == 20  # every verdict logged, PLC or not
        assert len(alarms) == output.stats.undelivered >= 5
        kinds = [e["kind"] for e in store.events()]
        assert "plc_connection_lost" in kinds and kinds.count("output_error") == len(alarms)
        assert sim.read("outputs.part_id") == 20 and sim.read("outputs.undelivered_count") == len(alarms)
    finally:
        output.close()
        store.close()
        sim.stop()


@pytest.mark.slow
def test_real_station_run_sends_every_verdict_to_the_plc(station_yaml, tmp_path, fast) -> None:
    from inspection.runtime.pipeline import Station

    with ModbusSim() as sim:
        config = load_station_config(station_yaml, overrides={"output": {"kind": "modbus", "port": sim.port, **fast}})
        with Station(config, db_path=tmp_path / "plc.db") as st:
            summary = st.run(max_parts=6)
            assert summary.parts == 6
            assert sim.read("outputs.sequence") == 6 and st.output.stats.delivered == 6  # type: ignore[union-attr]
            last = next(iter(st.store.inspections(order_by="id desc")))  # type: ignore[union-attr]
            assert sim.read("outputs.reject") is (last["verdict"] != "PASS")
            assert sim.read("outputs.running") is True


@pytest.mark.slow
def test_real_station_without_its_plc_stays_up_and_logs_every_part(station_yaml, tmp_path, fast) -> None:
    from inspection.runtime.pipeline import Station

    port = free_port()  # the PLC is off
    config = load_station_config(station_yaml, overrides={"output": {"kind": "modbus", "port": port, **fast}})
    with Station(config, db_path=tmp_path / "plc.db") as st:
        summary = st.run(max_parts=6)
        assert summary.parts == 6 and sum(st.store.counts().values()) == 6  # type: ignore[union-attr]
        output_alarms = [e for e in st.store.events() if e["kind"] == "output_error"]  # type: ignore[union-attr]
        # One alarm, not a flood (issue 16): repeats only count on the station's alarm board.
        assert len(output_alarms) == 1 and f"127.0.0.1:{port}" in output_alarms[0]["message"]
        folded = next(a for a in st.alarms.active() if a.kind == "output_error")
        assert folded.count == 6 and folded.first_s <= folded.last_s
        assert st.output.stats.undelivered == 6  # type: ignore[union-attr]


@pytest.mark.slow
def test_plc_job_change_switches_the_station_recipe(station_yaml, tmp_path, fast, wait_until, tiny_model) -> None:
    from inspection.runtime.pipeline import Station

    (tmp_path / "job12.yaml").write_text(f"name: board-12\nmodel: {tiny_model}\ndeadline_ms: 60000\n")
    with ModbusSim() as sim:
        config = load_station_config(station_yaml, overrides={
            "output": {"kind": "modbus", "port": sim.port, **fast}, "jobs": {12: str(tmp_path / "job12.yaml")}})
        with Station(config, db_path=tmp_path / "plc.db") as st:
            sim.write("inputs.recipe_select", 12)
            sim.write("inputs.lot_name", "LOT-7")
            sim.write("inputs.job_change", True)
            assert wait_until(lambda: sim.read("outputs.job_ack"))
            assert st.recipe.name == "board-12" and sim.read("outputs.job_number") == 12
            sim.write("inputs.job_change", False)
            assert wait_until(lambda: not sim.read("outputs.job_ack"))
            sim.write("inputs.recipe_select", 13)  # no recipe for job 13: refused, the PLC sees the error
            sim.write("inputs.job_change", True)
            assert wait_until(lambda: sim.read("outputs.error_code") == 7)
            assert st.recipe.name == "board-12"
            st.run(max_parts=2)
            assert {r["recipe"] for r in st.store.inspections()} == {"board-12"}  # type: ignore[union-attr]


def test_plc_sim_command_prints_what_the_station_writes(fast, inspection, wait_until) -> None:
    import pymodbus.client
    import pymodbus.server  # noqa: F401  (import before two threads race to import it half-way)

    from inspection.outputs import modbus

    port = free_port()
    result: dict[str, object] = {}

    def run() -> None:
        result["r"] = CliRunner().invoke(station, ["plc-sim", "--protocol", "modbus", "--port", str(port),
                                                   "--duration-s", "5"])

    thread = threading.Thread(target=run)
    thread.start()
    with modbus.create(modbus.Options(port=port, **{**fast, "reconnect_backoff_s": 0.05})) as out:
        assert wait_until(lambda: out.connected, timeout_s=10.0), (out.last_error, result)
        out.publish(inspection(1, "FAIL", part_id="321"))
        acked = wait_until(lambda: out.handshake.awaiting_ack is False, timeout_s=4.0)  # --auto-ack answered
    thread.join(timeout=30.0)
    assert not thread.is_alive() and "r" in result, "station plc-sim did not stop after --duration-s"
    outcome = result["r"]
    assert outcome.exit_code == 0, outcome.output  # type: ignore[attr-defined]
    assert acked, outcome.output  # type: ignore[attr-defined]
    text = outcome.output  # type: ignore[attr-defined]
    assert f"modbus PLC simulator on 127.0.0.1:{port}" in text and "outputs.reject" in text
    lines = text.splitlines()
    result = next(i for i, line in enumerate(lines) if "reject=True" in line)
    assert "part_id=321" in lines[result] and "result_valid=True" in lines[result]  # one write, one line
    assert any("result_valid=False" in line for line in lines[result + 1:])  # cleared after the PLC's ack


def test_plc_sim_rejects_an_unknown_protocol() -> None:
    outcome = CliRunner().invoke(station, ["plc-sim", "--protocol", "profinet"])
    assert outcome.exit_code != 0 and "profinet" in outcome.output


@pytest.mark.camera
def test_genicam_line_on_a_camera_without_outputs_is_a_clear_error(inspection) -> None:
    genicam = pytest.importorskip("genicam")
    cti = Path(os.path.dirname(genicam.__file__)) / "viky.cti"
    if not cti.exists():
        pytest.skip("viky.cti absent")
    output = genicam_line.create(genicam_line.Options(producers=(cti,), device={"serial": "1"}))
    with pytest.raises(OutputError) as info:
        output.open()
    text = str(info.value)
    assert "Viky" in text and "LineSelector" in text and "UserOutputValue" in text and "modbus, s7 or opcua" in text
    with pytest.raises(OutputError, match="not open"):
        output.publish(inspection(1, "FAIL"))  # never a silent pass
    output.close()


@pytest.mark.camera
def test_genicam_line_names_the_missing_camera_and_rejects_unknown_keys() -> None:
    from pydantic import ValidationError

    genicam = pytest.importorskip("genicam")
    cti = Path(os.path.dirname(genicam.__file__)) / "viky.cti"
    if not cti.exists():
        pytest.skip("viky.cti absent")
    output = genicam_line.create(genicam_line.Options(producers=(cti,), device={"serial": "99"}))
    with pytest.raises(OutputError, match="no device matches serial='99'"):
        output.open()
    output.close()
    with pytest.raises(ValidationError, match="serail"):
        genicam_line.Options(producers=(cti,), device={"serail": "1"})


def test_plc_sim_on_a_port_in_use_is_a_clean_error(modbus_plc) -> None:
    outcome = CliRunner().invoke(station, ["plc-sim", "--protocol", "modbus", "--port", str(modbus_plc.port),
                                           "--duration-s", "0"])
    assert outcome.exit_code == 5 and "cannot listen on 127.0.0.1" in outcome.output
    assert "pick another with --port" in outcome.output
