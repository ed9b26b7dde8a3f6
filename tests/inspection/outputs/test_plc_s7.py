"""Siemens S7 reject output against a real snap7 Server on 127.0.0.1."""

from __future__ import annotations

import pytest

from inspection.errors import OutputError
from inspection.outputs import s7
from inspection.outputs.plc_sim import free_port
from inspection.outputs.s7_sim import S7Sim
from inspection.outputs.signal_map import default_map

pytestmark = pytest.mark.plc


def _output(sim: S7Sim, fast: dict, **extra: object):
    return s7.create(s7.Options(port=sim.port, **{**fast, **extra}))


def test_verdict_lands_in_the_data_block_as_one_write(s7_plc, fast, inspection) -> None:
    writes: list[dict] = []
    with _output(s7_plc, fast) as out:
        assert out.connected, out.last_error
        s7_plc.hooks.append(lambda _t, values: writes.append(values))
        out.publish(inspection(1, "FAIL", part_id="123456", classes=("void",), class_ids=(1,)))
        result = [w for w in writes if "outputs.sequence" in w]
        assert len(result) == 1 and result[0]["outputs.result_valid"] is True  # one write: never half a result
        assert result[0]["outputs.part_id"] == 123456 and result[0]["outputs.reject"] is True
        plc = s7_plc.snapshot()
        assert (plc["outputs.result_code"], plc["outputs.defect_bits"], plc["outputs.sequence"]) == (2, 0b10, 1)
        assert plc["outputs.ready"] is True and plc["outputs.running"] is True
        out.publish(inspection(2))
        assert s7_plc.read("outputs.reject") is False and s7_plc.read("outputs.result_code") == 1
        assert s7_plc.read("outputs.ready") is True  # bits sharing the byte were not clobbered
    assert s7_plc.read("outputs.ready") is False


def test_plc_inputs_trigger_part_id_and_lot_name(s7_plc, fast, inspection, wait_until) -> None:
    jobs: list[tuple[int, str | None]] = []
    with s7.create(s7.Options(port=s7_plc.port, **fast), job_change=lambda job, lot: jobs.append((job, lot))) as out:
        s7_plc.write("inputs.part_id", 31337)
        s7_plc.write("inputs.trigger", True)
        assert wait_until(lambda: s7_plc.read("outputs.trigger_ack") and s7_plc.read("outputs.busy"))
        out.publish(inspection(1, "FAIL"))
        assert s7_plc.read("outputs.part_id") == 31337 and s7_plc.read("outputs.busy") is False
        s7_plc.write("inputs.recipe_select", 4)
        s7_plc.write("inputs.lot_name", "L-0042")
        s7_plc.write("inputs.job_change", True)
        assert wait_until(lambda: s7_plc.read("outputs.job_ack"))
        assert jobs == [(4, "L-0042")] and s7_plc.read("outputs.job_number") == 4


def test_server_killed_mid_run_fails_safe_and_resumes(fast, inspection, wait_until) -> None:
    sim = S7Sim().start()
    try:
        with _output(sim, fast) as out:
            out.publish(inspection(1, part_id="1"))
            sim.stop()
            undelivered = 0
            for seq in range(2, 6):
                try:
                    out.publish(inspection(seq, "FAIL", part_id=str(seq)))
                except OutputError as exc:
                    assert "S7 127.0.0.1" in str(exc) and f"part {seq}" in str(exc)
                    undelivered += 1
            assert wait_until(lambda: not out.connected) and "plc_connection_lost" in out.stats.alarms
            assert undelivered >= 3 and out.stats.undelivered == undelivered  # every miss counted and kept
            sim.start()
            assert wait_until(lambda: out.connected and out.stats.reconnects >= 1)
            out.publish(inspection(9, "FAIL", part_id="9"))
            assert sim.read("outputs.part_id") == 9 and sim.read("outputs.reject") is True
            assert wait_until(lambda: sim.read("outputs.undelivered_count") == undelivered)
    finally:
        sim.stop()


def test_missing_data_block_names_signal_and_address(fast, inspection) -> None:
    smap = default_map("s7").model_dump()
    smap["outputs"]["heartbeat"] = "DB7.DBW0"
    with S7Sim() as sim, s7.create(s7.Options(port=sim.port, signals=smap, **fast)) as out:  # no DB7 there
        assert not out.connected
        assert "outputs.heartbeat (DB7.DBW0)" in out.last_error and "DB7 exists" in out.last_error
        with pytest.raises(OutputError, match="not connected.*DB7"):
            out.publish(inspection(1, "FAIL"))


def test_address_beyond_the_data_block_names_signal_and_address(fast) -> None:
    smap = default_map("s7").model_dump()
    smap["outputs"]["undelivered_count"] = "DB100.DBW200"
    with S7Sim(db_sizes={100: 24, 101: 28}) as sim, s7.create(s7.Options(port=sim.port, signals=smap, **fast)) as out:
        assert not out.connected and "outputs.undelivered_count (DB100.DBW200)" in out.last_error


def test_wrong_port_is_a_clear_error_and_the_output_stays_open(fast, inspection) -> None:
    port = free_port()
    with s7.create(s7.Options(port=port, **fast)) as out:
        assert f"127.0.0.1:{port}" in out.last_error and "cannot connect" in out.last_error
        with pytest.raises(OutputError, match="not delivered"):
            out.publish(inspection(1))
        assert out.stats.undelivered == 1


def test_a_peer_that_accepts_but_never_answers_costs_the_connect_timeout_not_five_seconds(fast) -> None:
    """A hung PLC (or another service on port 102): TCP accepts, the ISO handshake gets no reply. snap7 alone
    waits a fixed 5 s per try; the station gives up after connect_timeout_s and stays in fail-safe."""
    import socket
    import time

    silent = socket.create_server(("127.0.0.1", 0))
    try:
        started = time.monotonic()
        with s7.create(s7.Options(port=silent.getsockname()[1], **fast)) as out:
            took = time.monotonic() - started
            assert not out.connected and "no S7 answer within 0.5 s" in out.last_error
            assert "plc_connection_lost" in out.stats.alarms
        assert took < 3.0  # 0.5 s with the bound; snap7's own wait is 5 s
    finally:
        silent.close()
