"""Modbus TCP reject output against a real pymodbus server on 127.0.0.1."""

from __future__ import annotations

import struct
import threading
import time
from typing import Any

import pytest

from inspection.errors import OutputError
from inspection.outputs import modbus
from inspection.outputs.modbus_sim import ModbusSim
from inspection.outputs.plc_sim import free_port
from inspection.outputs.signal_map import default_map

pytestmark = pytest.mark.plc


def _output(sim: ModbusSim, fast: dict, **extra: object) -> modbus.PlcOutput:  # type: ignore[name-defined]
    return modbus.create(modbus.Options(port=sim.port, **{**fast, **extra}))


def test_verdicts_land_in_the_plc_registers(modbus_plc, fast, inspection, wait_until) -> None:
    with _output(modbus_plc, fast) as out:
        assert out.connected, out.last_error
        out.publish(inspection(1, "FAIL", part_id="70000", classes=("bridge",), class_ids=(2,)))
        plc = modbus_plc.snapshot()
        assert plc["outputs.reject"] is True and plc["outputs.result_valid"] is True
        assert plc["outputs.part_id"] == 70000  # u32 across two registers
        assert (plc["outputs.result_code"], plc["outputs.error_code"], plc["outputs.defect_bits"]) == (2, 0, 0b100)
        out.publish(inspection(2))
        plc = modbus_plc.snapshot()
        assert plc["outputs.reject"] is False and plc["outputs.result_code"] == 1
        assert plc["outputs.part_id"] == 2 and plc["outputs.sequence"] == 2  # no part id: the sequence number
        out.publish(inspection(3, failsafe_code="inspection_error"))
        assert modbus_plc.read("outputs.reject") is True and modbus_plc.read("outputs.result_code") == 3
        assert modbus_plc.read("outputs.error_code") == 5
        assert modbus_plc.read("outputs.ready") is True and modbus_plc.read("outputs.fault") is False
        beat = modbus_plc.read("outputs.heartbeat")
        assert wait_until(lambda: modbus_plc.read("outputs.heartbeat") > beat)
    assert modbus_plc.read("outputs.ready") is False and modbus_plc.read("outputs.running") is False


def test_coil_map_writes_bits_to_coils_with_result_valid_last(fast, inspection) -> None:
    signals = {"outputs": {"reject": "coil:0", "result_valid": "coil:1", "ready": "coil:4", "result_code": "hr:0",
                           "part_id": "hr:2:u32"},
               "inputs": {"trigger": "coil:16", "part_id": "hr:16:u32"}}
    order: list[list[str]] = []
    with ModbusSim(modbus.Options(signals=signals).resolved_map()) as sim:
        sim.hooks.append(lambda _t, values: order.append(sorted(values)))
        with modbus.create(modbus.Options(port=sim.port, signals=signals, **fast)) as out:
            order.clear()
            out.publish(inspection(1, "FAIL", part_id="9"))
            assert sim.read("outputs.reject") is True and sim.read("outputs.part_id") == 9
            data = next(i for i, names in enumerate(order) if "outputs.part_id" in names)
            valid = next(i for i, names in enumerate(order) if "outputs.result_valid" in names)
            assert valid > data and order[valid] == ["outputs.reject", "outputs.result_valid"]  # data went first
            assert sim.read("outputs.ready") is True


def test_trigger_part_id_busy_ack_and_result_ack_handshake(modbus_plc, fast, inspection, wait_until) -> None:
    with _output(modbus_plc, fast) as out:
        modbus_plc.write("inputs.part_id", 4711)
        modbus_plc.write("inputs.trigger", True)
        assert wait_until(lambda: modbus_plc.read("outputs.trigger_ack"))
        assert modbus_plc.read("outputs.busy") is True
        modbus_plc.write("inputs.trigger", False)
        assert wait_until(lambda: not modbus_plc.read("outputs.trigger_ack"))
        out.publish(inspection(1, "FAIL"))  # the camera gave no part id: the PLC's trigger did
        assert modbus_plc.read("outputs.part_id") == 4711
        assert modbus_plc.read("outputs.busy") is False and modbus_plc.read("outputs.result_valid") is True
        modbus_plc.write("inputs.result_ack", True)
        assert wait_until(lambda: not modbus_plc.read("outputs.result_valid"))
        assert out.handshake.unacked == 0


def test_job_change_is_acknowledged_or_refused(modbus_plc, fast, wait_until) -> None:
    jobs: list[tuple[int, str | None]] = []

    def switch(job: int, lot: str | None) -> None:
        if job == 99:
            raise ValueError("no recipe for job 99")
        jobs.append((job, lot))

    with _output(modbus_plc, fast) as out:
        out.job_listeners.append(switch)
        modbus_plc.write("inputs.recipe_select", 12)
        modbus_plc.write("inputs.lot_name", "LOT-2026-11")
        modbus_plc.write("inputs.job_change", True)
        assert wait_until(lambda: modbus_plc.read("outputs.job_ack"))
        assert jobs == [(12, "LOT-2026-11")] and modbus_plc.read("outputs.job_number") == 12
        modbus_plc.write("inputs.job_change", False)
        assert wait_until(lambda: not modbus_plc.read("outputs.job_ack"))
        modbus_plc.write("inputs.recipe_select", 99)
        modbus_plc.write("inputs.job_change", True)
        assert wait_until(lambda: modbus_plc.read("outputs.error_code") == 7)  # job_change_failed
        assert modbus_plc.read("outputs.job_ack") is False and "job_change_failed" in out.stats.alarms
        assert wait_until(lambda: modbus_plc.read("outputs.fault"))


def test_server_killed_mid_run_fails_safe_logs_and_resumes(fast, inspection, wait_until) -> None:
    sim = ModbusSim().start()
    alarms: list[tuple[str, bool]] = []
    try:
        with _output(sim, fast) as out:
            out.alarm_listeners.append(lambda kind, _msg, active: alarms.append((kind, active)))
            out.publish(inspection(1, part_id="1"))
            sim.stop()
            errors = []
            for seq in range(2, 7):  # the station keeps inspecting; the PLC gets nothing
                try:
                    out.publish(inspection(seq, "FAIL", part_id=str(seq)))
                except OutputError as exc:
                    errors.append(str(exc))
            assert len(errors) == 5 and all("not delivered" in e for e in errors)
            assert "Modbus TCP 127.0.0.1" in errors[-1] and "part 6" in errors[-1]
            assert wait_until(lambda: not out.connected) and ("plc_connection_lost", True) in alarms
            assert [u.part_id for u in out.backlog] == ["2", "3", "4", "5", "6"]
            sim.start()  # same port, same memory: the PLC came back
            assert wait_until(lambda: out.connected and out.stats.reconnects == 1)
            assert ("plc_connection_lost", False) in alarms
            out.publish(inspection(7, "FAIL", part_id="7"))
            assert sim.read("outputs.part_id") == 7 and sim.read("outputs.reject") is True
            assert wait_until(lambda: sim.read("outputs.undelivered_count") == 5)
            assert sim.read("outputs.ready") is True and sim.read("outputs.fault") is False
    finally:
        sim.stop()


def test_refused_connection_keeps_the_station_up_in_fail_safe(fast, inspection, wait_until) -> None:
    port = free_port()  # nobody listens here
    with modbus.create(modbus.Options(port=port, **fast)) as out:
        assert not out.connected and "cannot connect" in out.last_error and str(port) in out.last_error
        with pytest.raises(OutputError, match=rf"127.0.0.1:{port}.*not connected.*part 1 not delivered"):
            out.publish(inspection(1, "FAIL", part_id="1"))
        with ModbusSim(port=port):  # the PLC is switched on later: the station connects by itself
            assert wait_until(lambda: out.connected)
            out.publish(inspection(2, part_id="2"))
    assert out.stats.undelivered == 1 and out.stats.delivered == 1


def test_register_out_of_range_names_signal_and_address_and_fails_safe(fast, inspection, wait_until) -> None:
    smap = default_map("modbus").model_dump()
    smap["outputs"]["undelivered_count"] = "hr:300"  # the PLC has 256 registers
    with ModbusSim(size=256) as sim, modbus.create(modbus.Options(port=sim.port, signals=smap, **fast)) as out:
        assert not out.connected
        assert "outputs.undelivered_count (hr:300)" in out.last_error and "illegal data address" in out.last_error
        with pytest.raises(OutputError, match=r"outputs.undelivered_count \(hr:300\)"):
            out.publish(inspection(1))
        assert "plc_connection_lost" in out.stats.alarms  # stays in fail-safe, retrying with backoff


def test_write_refused_at_run_time_forces_fail_safe_outputs(modbus_plc, fast, inspection, wait_until) -> None:
    with _output(modbus_plc, fast) as out:
        out.publish(inspection(1, part_id="1"))
        modbus_plc.refuse = {("hr", 4)}  # the PLC write-protects outputs.sequence
        with pytest.raises(OutputError) as info:
            out.publish(inspection(2, part_id="2"))  # a PASS that must not reach the gate as a pass
        assert "outputs.sequence (hr:4:u32)" in str(info.value) and "illegal data address" in str(info.value)
        assert "part 2 not delivered" in str(info.value) and "plc_write_error" in out.stats.alarms
        plc = modbus_plc.snapshot()
        assert plc["outputs.reject"] is True and plc["outputs.fault"] is True and plc["outputs.ready"] is False
        assert plc["outputs.result_valid"] is False and out.connected  # the link itself is fine
        modbus_plc.refuse = set()
        out.publish(inspection(3, part_id="3"))
        assert "plc_write_error" not in out.stats.alarms and modbus_plc.read("outputs.part_id") == 3
        assert wait_until(lambda: modbus_plc.read("outputs.ready") and not modbus_plc.read("outputs.fault"))


def test_late_verdict_is_reported_as_fail_safe_reject_and_counted(fast, inspection, wait_until) -> None:
    tracking = {"mode": "time", "gate_delay_ms": 50, "margin_ms": 0}
    with ModbusSim() as sim, modbus.create(modbus.Options(port=sim.port, tracking=tracking, **fast)) as out:
        out.publish(inspection(1, part_id="1", timestamp_s=__import__("time").time() - 1.0))  # a PASS, 1 s late
        assert sim.read("outputs.reject") is True and sim.read("outputs.result_code") == 3
        assert sim.read("outputs.error_code") == 3 and out.stats.late == 1
        assert wait_until(lambda: sim.read("outputs.late_count") == 1)


def test_triggered_part_without_verdict_is_reported_not_inspected(fast, wait_until) -> None:
    tracking = {"mode": "time", "gate_delay_ms": 30, "margin_ms": 0}
    with ModbusSim() as sim, modbus.create(modbus.Options(port=sim.port, tracking=tracking, **fast)) as out:
        sim.write("inputs.part_id", 555)
        sim.write("inputs.trigger", True)
        assert wait_until(lambda: sim.read("outputs.result_code") == 4)  # not inspected
        assert sim.read("outputs.part_id") == 555 and sim.read("outputs.reject") is True
        assert out.stats.not_inspected == 1


def _trigger(sim: ModbusSim, wait_until, part_id: int) -> None:
    """A PLC trigger with its part id, held until the station acknowledges it, as the handshake asks."""
    sim.write("inputs.part_id", part_id)
    sim.write("inputs.trigger", True)
    assert wait_until(lambda: sim.read("outputs.trigger_ack"))
    sim.write("inputs.trigger", False)
    assert wait_until(lambda: not sim.read("outputs.trigger_ack"))


def test_a_trigger_without_a_frame_is_reported_and_does_not_shift_later_verdicts(fast, inspection,
                                                                                  wait_until) -> None:
    """Trigger 101 is a bounce the camera never saw. FIFO matching alone wrote part 102's verdict under 101,
    103's under 102, … for ever. A trigger older than frame_within_ms at the next frame is reported not
    inspected instead, and the frame takes the next trigger."""
    tracking = {"frame_within_ms": 100}
    with ModbusSim() as sim, modbus.create(modbus.Options(port=sim.port, tracking=tracking, **fast)) as out:
        _trigger(sim, wait_until, 100)
        _trigger(sim, wait_until, 101)  # no frame will come for it
        out.publish(inspection(1))
        assert sim.read("outputs.part_id") == 100
        time.sleep(0.2)
        for seq, part in ((2, 102), (3, 103)):
            _trigger(sim, wait_until, part)
            out.publish(inspection(seq, "FAIL"))
            assert sim.read("outputs.part_id") == part and sim.read("outputs.reject") is True
        assert out.stats.not_inspected == 1 and out.tracker.pending == 0


def test_triggers_beyond_max_pending_are_reported_not_inspected(fast, wait_until) -> None:
    with ModbusSim() as sim, modbus.create(modbus.Options(port=sim.port, tracking={"max_pending": 4},
                                                          **fast)) as out:
        results: list[tuple[int, int]] = []
        sim.hooks.append(lambda _t, values: results.append((values["outputs.part_id"], values["outputs.result_code"]))
                         if "outputs.result_code" in values else None)
        for part in range(1000, 1006):
            _trigger(sim, wait_until, part)
        assert out.stats.not_inspected == 2 and out.tracker.pending == 4
        assert results == [(1000, 4), (1001, 4)]  # the two oldest, as "not inspected" (a reject)
        assert "plc_trigger_overflow" in out.stats.alarms


def test_plc_heartbeat_watchdog_raises_alarm_and_clears(fast, wait_until) -> None:
    with ModbusSim() as sim, modbus.create(modbus.Options(port=sim.port, plc_watchdog_s=0.2, **fast)) as out:
        assert wait_until(lambda: "plc_heartbeat_lost" in out.stats.alarms)
        assert wait_until(lambda: sim.read("outputs.fault") and not sim.read("outputs.ready"))
        assert sim.read("outputs.reject") is True  # fail-safe outputs
        sim.write("inputs.heartbeat", 1)
        assert wait_until(lambda: "plc_heartbeat_lost" not in out.stats.alarms)
        assert wait_until(lambda: sim.read("outputs.ready") and not sim.read("outputs.fault"))


def test_latched_alarm_needs_the_plc_reset(fast, wait_until) -> None:
    sim = ModbusSim().start()
    try:
        with modbus.create(modbus.Options(port=sim.port, latch_alarms=True, **fast)) as out:
            sim.stop()
            assert wait_until(lambda: not out.connected)
            sim.start()
            assert wait_until(lambda: out.connected)
            assert wait_until(lambda: sim.read("outputs.fault") is True)  # still latched after the reconnect
            sim.write("inputs.reset_alarm", True)
            assert wait_until(lambda: not sim.read("outputs.fault") and sim.read("outputs.ready"))
    finally:
        sim.stop()


def test_a_plc_reset_does_not_undo_the_stations_safe_stop(modbus_plc, fast, wait_until) -> None:
    """The station stopped itself (a stage kept failing, the spool is full): a PLC reset clears the PLC's own
    alarms but must not tell the PLC the stopped station is ready again."""
    with _output(modbus_plc, fast, plc_watchdog_s=0.0) as out:
        assert out.connected, out.last_error
        out.safe_stop("spool full: the verdict log is unavailable")
        assert wait_until(lambda: modbus_plc.read("outputs.fault") and not modbus_plc.read("outputs.ready"))
        modbus_plc.write("inputs.reset_alarm", True)
        time.sleep(20 * fast["poll_period_s"])
        modbus_plc.write("inputs.reset_alarm", False)
        time.sleep(20 * fast["poll_period_s"])
        assert "safe_stop" in out.stats.alarms
        assert modbus_plc.read("outputs.fault") is True and modbus_plc.read("outputs.ready") is False


def test_text_part_ids_need_a_text_address(fast, inspection) -> None:
    text_map = default_map("modbus").model_dump()
    text_map["outputs"]["part_id"] = "hr:30:str16"
    text_sim = ModbusSim(modbus.Options(signals=text_map).resolved_map())
    with text_sim as sim, modbus.create(modbus.Options(port=sim.port, signals=text_map, **fast)) as out:
        out.publish(inspection(1, "FAIL", part_id="PCB-0042"))
        assert sim.read("outputs.part_id") == "PCB-0042"
    with ModbusSim() as sim, modbus.create(modbus.Options(port=sim.port, **fast)) as out:  # u32 part id
        with pytest.raises(OutputError, match=r"outputs.part_id \(hr:2:u32\) holds a number.*'PCB-0042'"):
            out.publish(inspection(2, "PASS", part_id="PCB-0042"))
        assert sim.read("outputs.reject") is True and sim.read("outputs.fault") is True  # fail-safe, not a pass


@pytest.mark.parametrize("part_id", ["²", "١٢"])  # digits to str.isdigit, not to int()
def test_a_unicode_digit_part_id_is_text_and_fails_safe_on_a_number_address(fast, inspection, part_id: str) -> None:
    with ModbusSim() as sim, modbus.create(modbus.Options(port=sim.port, **fast)) as out:
        with pytest.raises(OutputError, match=r"outputs.part_id \(hr:2:u32\) holds a number"):
            out.publish(inspection(1, "PASS", part_id=part_id))
        assert sim.read("outputs.reject") is True and sim.read("outputs.fault") is True
        assert out.stats.undelivered == 1


def test_a_result_the_handshake_cannot_encode_is_fail_safe_and_counted(fast, inspection,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong while the result is put together (a bug, a value nobody foresaw), the PLC gets the
    fail-safe bits and the part is counted undelivered: never a silent gap in the results."""
    from inspection.outputs import handshake

    with ModbusSim() as sim, modbus.create(modbus.Options(port=sim.port, **fast)) as out:
        monkeypatch.setattr(handshake, "_as_wire", lambda part_id: 1 / 0)
        with pytest.raises(OutputError, match="not delivered: division by zero"):
            out.publish(inspection(1, "PASS", part_id="7"))
        assert sim.read("outputs.reject") is True and sim.read("outputs.fault") is True
        assert out.stats.undelivered == 1 and "plc_write_error" in out.stats.alarms


def test_shift_register_reports_the_part_that_reached_the_gate_unjudged(fast, inspection, wait_until) -> None:
    tracking = {"mode": "positions", "gate_positions": 2}
    with ModbusSim() as sim, modbus.create(modbus.Options(port=sim.port, tracking=tracking, **fast)) as out:
        for part in (11, 12, 13):  # three part-present pulses with their ids
            sim.write("inputs.part_id", part)
            sim.write("inputs.trigger", True)
            assert wait_until(lambda: sim.read("outputs.trigger_ack"))
            sim.write("inputs.trigger", False)
            assert wait_until(lambda: not sim.read("outputs.trigger_ack"))
        # part 11 is now two positions on, at the gate, without a verdict: reported, rejected, counted
        assert wait_until(lambda: out.stats.not_inspected == 1)
        assert (sim.read("outputs.part_id"), sim.read("outputs.result_code")) == (11, 4)
        assert sim.read("outputs.reject") is True
        out.publish(inspection(1))  # the next verdict belongs to part 12 (FIFO) and is still in time
        assert (sim.read("outputs.part_id"), sim.read("outputs.result_code")) == (12, 1)
        assert sim.read("outputs.reject") is False and out.stats.late == 0


def test_a_hung_plc_costs_publish_its_timeout_not_the_line(modbus_plc, fast, inspection, wait_until) -> None:
    with _output(modbus_plc, fast) as out:
        out.publish(inspection(1, part_id="1"))
        modbus_plc.stall_s = 0.6  # the PLC stops answering (timeout_s is 0.3)
        with pytest.raises(OutputError, match="part 2 not delivered"):
            out.publish(inspection(2, "FAIL", part_id="2"))
        assert not out.connected and out.stats.undelivered == 1
        modbus_plc.stall_s = 0.0  # the PLC recovers; requests already hung time out on the station's side
        assert wait_until(lambda: modbus_plc.stalling == 0)
        assert wait_until(lambda: out.connected)
        out.publish(inspection(3, "FAIL", part_id="3"))
        assert modbus_plc.read("outputs.part_id") == 3 and modbus_plc.read("outputs.reject") is True


def test_an_ack_lost_with_the_link_is_written_after_the_reconnect(modbus_plc, fast, wait_until) -> None:
    options = {**fast, "heartbeat_period_s": 30.0}  # only handshake answers are written while the PLC hangs
    with _output(modbus_plc, options) as out:
        assert wait_until(lambda: modbus_plc.read("outputs.heartbeat") >= 1)  # the first beat has landed
        modbus_plc.stall_s = 0.6  # writes hang (timeout_s 0.3); reads still answer
        modbus_plc.write("inputs.part_id", 5)
        modbus_plc.write("inputs.trigger", True)
        assert wait_until(lambda: out.tracker.pending == 1)  # the part is registered …
        assert wait_until(lambda: not out.connected)  # … but its trigger_ack hung and the link was dropped
        modbus_plc.stall_s = 0.0
        assert wait_until(lambda: modbus_plc.stalling == 0)
        assert wait_until(lambda: modbus_plc.read("outputs.trigger_ack"))  # no new edge: the retry wrote it
        assert out.tracker.pending == 1 and modbus_plc.read("outputs.busy") is True


def test_a_verdict_published_as_the_link_comes_up_is_not_cleared_by_the_connect_write(fast, inspection) -> None:
    """Regression (seen under load): the clean-slate write on connect (result_valid off, status) used to be
    able to land after a verdict published the moment `connected` turned true, clearing its result_valid."""
    import threading
    import time

    with ModbusSim() as sim:
        out = modbus.create(modbus.Options(port=sim.port, **fast))
        write, first = out.link.write, threading.Event()

        def slow_first_write(items):  # type: ignore[no-untyped-def]
            if not first.is_set():
                first.set()
                time.sleep(0.3)  # the connect write stalls; a verdict arrives meanwhile
            return write(items)

        out.link.write = slow_first_write
        publisher = threading.Thread(target=lambda: (first.wait(5.0), out.publish(inspection(1, "FAIL"))))
        publisher.start()
        with out:
            publisher.join(5.0)
            assert sim.read("outputs.result_valid") is True and sim.read("outputs.reject") is True
            assert sim.read("outputs.ready") is True


class ShortReplyServer:
    """A Modbus TCP server that frames its answers correctly but returns one register whatever count was
    asked for (a broken gateway, or some other service on the PLC's port). Writes are acknowledged."""

    def __init__(self) -> None:
        import socket

        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ShortReplyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    @staticmethod
    def _answer(connection: Any) -> None:
        with connection:
            buffer = b""
            while chunk := connection.recv(4096):
                buffer += chunk
                while len(buffer) >= 7 and len(buffer) >= 6 + struct.unpack(">H", buffer[4:6])[0]:
                    transaction, _, length, unit = struct.unpack(">HHHB", buffer[:7])
                    pdu, buffer = buffer[7:6 + length], buffer[6 + length:]
                    code = pdu[0]
                    if code in (1, 2):
                        count = struct.unpack(">H", pdu[3:5])[0]
                        body = bytes([code, (count + 7) // 8]) + bytes((count + 7) // 8)
                    elif code in (3, 4):
                        body = bytes([code, 2, 0, 0])  # one register, whatever the count
                    else:
                        body = pdu[:5]
                    connection.sendall(struct.pack(">HHHB", transaction, 0, len(body) + 1, unit) + body)


def test_a_reply_with_too_few_registers_is_a_lost_connection_not_a_crash(fast, inspection) -> None:
    with ShortReplyServer() as server, modbus.create(modbus.Options(port=server.port, **fast)) as out:
        assert not out.connected
        assert "came back with 1" in out.last_error and "does not speak Modbus correctly" in out.last_error
        assert "plc_connection_lost" in out.stats.alarms
        with pytest.raises(OutputError, match="not connected"):
            out.publish(inspection(1))


def test_an_unexpected_supervisor_failure_is_one_alarm_until_it_passes(modbus_plc, fast, wait_until,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A bug (or an answer nobody foresaw) in a supervisor cycle: the PLC inputs are not being handled, so an
    alarm says so — once, with one traceback in the log — and clears with the first good cycle."""
    with _output(modbus_plc, fast) as out:
        assert out.connected, out.last_error
        real_read = out.link.read
        monkeypatch.setattr(out.link, "read", lambda names: [][0])  # IndexError inside the cycle
        assert wait_until(lambda: "plc_supervisor_error" in out.stats.alarms)
        time.sleep(10 * fast["poll_period_s"])  # many failing cycles
        assert "IndexError" in out.stats.alarms["plc_supervisor_error"]
        assert sum("PLC supervisor error" in r.getMessage() for r in caplog.records) == 1
        monkeypatch.setattr(out.link, "read", real_read)
        assert wait_until(lambda: "plc_supervisor_error" not in out.stats.alarms)
