"""Signal maps, address notations, verdict encoding, handshake edges and part tracking (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspection.config import load_station_config
from inspection.domain.codes import ReasonCode, default_error_codes
from inspection.errors import ConfigError
from inspection.outputs import modbus, opcua, s7
from inspection.outputs.handshake import Handshake
from inspection.outputs.signal_map import MAPS_DIR, default_map, defect_bits, error_code, load_signal_map, result_code
from inspection.outputs.tracking import PartTracker, TrackingOptions

pytestmark = pytest.mark.plc


@pytest.mark.parametrize("kind", ["modbus", "s7", "opcua"])
def test_bundled_maps_load_and_cover_every_signal(kind: str) -> None:
    smap = default_map(kind)
    names = set(smap.signals())
    assert "outputs.reject" in names and "inputs.trigger" in names
    assert len(names) == 25  # every output and input the handshake knows


@pytest.mark.parametrize(("name", "address", "area", "index", "size"), [
    ("outputs.reject", "coil:0", "coil", 0, 1),
    ("outputs.ready", "hr:7.4", "hr", 7, 1),
    ("outputs.result_code", "hr:10", "hr", 10, 1),
    ("outputs.part_id", "hr:12:u32", "hr", 12, 2),
    ("inputs.lot_name", "hr:20:str16", "hr", 20, 8),
    ("inputs.trigger", "di:3", "di", 3, 1),
    ("inputs.heartbeat", "ir:7:i16", "ir", 7, 1),
])
def test_modbus_addresses_parse(name: str, address: str, area: str, index: int, size: int) -> None:
    parsed = modbus.parse_address(name, address)
    assert (parsed.area, parsed.index, parsed.size) == (area, index, size)


@pytest.mark.parametrize(("name", "address", "message"), [
    ("outputs.reject", "40001", "not a Modbus address"),
    ("outputs.reject", "hr:3", "is a bit"),
    ("outputs.reject", "hr:3.16", "bits 0..15"),
    ("outputs.reject", "coil:3.1", "one bit"),
    ("outputs.result_code", "coil:3", "number/text"),
    ("outputs.reject", "di:0", "read-only"),
    ("inputs.lot_name", "hr:3", "is text"),
    ("outputs.sequence", "hr:65535:u32", "beyond the Modbus address space"),
])
def test_modbus_bad_addresses_say_what_to_fix(name: str, address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        modbus.parse_address(name, address)


@pytest.mark.parametrize(("name", "address", "text"), [
    ("outputs.reject", "DB100.DBX14.0", "DB100.DBX14.0"),
    ("outputs.result_code", "db100.dbw0", "DB100.DBW0"),
    ("outputs.part_id", "DB100.DBD4", "DB100.DBD4"),
    ("outputs.defect_bits", "DB7.DBB3", "DB7.DBB3"),
    ("inputs.lot_name", "DB101.STRING10.16", "DB101.STRING10.16"),
])
def test_s7_addresses_parse(name: str, address: str, text: str) -> None:
    assert str(s7.parse_address(name, address)) == text


@pytest.mark.parametrize(("name", "address", "message"), [
    ("outputs.reject", "DB100.DBX14.8", "bit number 0..7"),
    ("outputs.reject", "DB100.DBX14", "bit number"),
    ("outputs.reject", "DB100.DBW2", "is a bit"),
    ("outputs.result_code", "DB100.DBX0.0", "is a number"),
    ("outputs.result_code", "MW10", "not an S7 DB address"),
    ("outputs.result_code", "DB0.DBW0", "DB numbers start at 1"),
    ("inputs.lot_name", "DB1.DBW0", "is text"),
])
def test_s7_bad_addresses_say_what_to_fix(name: str, address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        s7.parse_address(name, address)


def test_opcua_bad_node_id_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not an OPC UA node id"):
        opcua.parse_address("outputs.reject", "Station/Reject")


def _station_yaml(tmp_path: Path, output: str) -> Path:
    (tmp_path / "recipe.yaml").write_text("name: r\n")
    path = tmp_path / "station.yaml"
    path.write_text(f"recipe: recipe.yaml\ncameras:\n  - kind: replay\n    path: {tmp_path}\n"
                    f"detector:\n  kind: ultralytics\n  model: m.pt\noutput:\n{output}")
    return path


def test_station_config_error_names_file_signal_and_address(tmp_path: Path) -> None:
    path = _station_yaml(tmp_path, "  kind: modbus\n  port: 5020\n  signals:\n    outputs:\n      reject: hr:0\n")
    with pytest.raises(ConfigError) as info:
        load_station_config(path)
    text = str(info.value)
    assert str(path) in text and "outputs.reject" in text and "hr:0" in text and "coil" in text


def test_station_config_unknown_output_key_is_an_error(tmp_path: Path) -> None:
    path = _station_yaml(tmp_path, "  kind: s7\n  host: 10.0.0.5\n  slott: 1\n")
    with pytest.raises(ConfigError, match="output.slott: unknown key"):
        load_station_config(path)


def test_signal_map_file_errors_name_the_map_file(tmp_path: Path) -> None:
    bad = tmp_path / "map.yaml"
    bad.write_text("outputs:\n  reject: coil:0\n  rejct: coil:1\n")
    with pytest.raises(ConfigError) as info:
        modbus.Options(port=502, signal_map=bad)
    assert str(bad) in str(info.value) and "rejct" in str(info.value)


def test_s7_output_sharing_a_byte_with_an_input_is_refused() -> None:
    signals = {"outputs": {"reject": "DB1.DBX0.0"}, "inputs": {"trigger": "DB1.DBX0.1"}}
    with pytest.raises(ValueError, match="shares a byte"):
        s7.Options(signals=signals)


def test_modbus_input_sharing_a_register_with_an_output_bit_is_refused() -> None:
    signals = {"outputs": {"reject": "hr:7.0"}, "inputs": {"trigger": "hr:7.1"}}
    with pytest.raises(ValueError, match="shares a register"):
        modbus.Options(signals=signals)


def test_positions_tracking_needs_a_trigger_input() -> None:
    with pytest.raises(ValueError, match="inputs.trigger"):
        modbus.Options(signals={"outputs": {"reject": "coil:0"}},
                       tracking={"mode": "positions", "gate_positions": 3})


def test_result_and_error_codes_never_pass_a_bad_part(inspection) -> None:
    smap = load_signal_map(MAPS_DIR / "modbus.yaml")
    assert result_code(smap, inspection(1)) == 1
    assert result_code(smap, inspection(1, "FAIL")) == 2
    assert result_code(smap, inspection(1, "REVIEW")) == 2
    assert result_code(smap, inspection(1, failsafe_code="deadline")) == 3
    assert result_code(smap, inspection(1), late=True) == 3  # a late PASS is a fail-safe reject
    assert result_code(smap, None) == 4
    assert error_code(smap, inspection(1, failsafe_code="deadline")) == 2
    assert error_code(smap, inspection(1, failsafe_code="camera_lost")) == ReasonCode.CAMERA_LOST.plc_error == 8
    assert error_code(smap, inspection(1, failsafe_code="queue_full")) == ReasonCode.QUEUE_FULL.plc_error
    assert error_code(smap, inspection(1, failsafe_code="made_up")) == 1  # unknown code → other
    assert error_code(smap, inspection(1, "FAIL")) == 0
    assert error_code(smap, inspection(1), late=True) == 3


def test_defect_bits_by_class_list_and_by_class_id(inspection) -> None:
    smap = default_map("modbus").model_copy(update={"defect_classes": ["bridge", "void", "missing"]})
    assert defect_bits(smap, inspection(1, "FAIL", classes=("missing", "bridge"))) == 0b101
    assert defect_bits(smap, inspection(1, "FAIL", classes=("scratch",))) == 1 << 15  # not in the list: 'other'
    by_id = default_map("modbus")
    assert defect_bits(by_id, inspection(1, "FAIL", classes=("a", "b"), class_ids=(0, 4))) == 0b10001


def test_handshake_result_writes_data_first_and_result_valid_last(inspection) -> None:
    hs = Handshake(default_map("modbus"))
    items = hs.result(inspection(5, "FAIL", part_id="42"), "42")
    names = [n for n, _ in items]
    assert names[-1] == "outputs.result_valid" and dict(items)["outputs.reject"] is True
    assert dict(items)["outputs.part_id"] == 42 and dict(items)["outputs.sequence"] == 1
    hs.result(inspection(6), "6")
    assert hs.unacked == 1  # the PLC did not acknowledge the first result


def test_handshake_edges_including_a_trigger_held_at_connect() -> None:
    hs = Handshake(default_map("modbus"))
    first = hs.edges({"inputs.trigger": True, "inputs.part_id": 7, "inputs.heartbeat": 1})
    assert first.trigger and first.part_id == "7"  # PLC was already waiting for our ack
    same = hs.edges({"inputs.trigger": True, "inputs.part_id": 7, "inputs.heartbeat": 1})
    assert not same.trigger and not same.plc_heartbeat_changed
    released = hs.edges({"inputs.trigger": False, "inputs.job_change": True, "inputs.recipe_select": 3,
                         "inputs.heartbeat": 2})
    assert released.trigger_released and released.job_change and released.job_number == 3
    assert released.plc_heartbeat_changed


def test_time_tracking_marks_late_verdicts_and_expires_untouched_parts(inspection) -> None:
    tracker = PartTracker(TrackingOptions(mode="time", gate_delay_ms=100, margin_ms=10))
    tracker.on_trigger("A", 1000.0)
    tracker.on_trigger("B", 1000.05)
    tracker.on_trigger("C", 1000.10)
    on_time = tracker.resolve(inspection(1, timestamp_s=1000.01), 1000.05)  # frames follow their triggers
    assert (on_time.part_id, on_time.source, on_time.late) == ("A", "plc", False)
    late = tracker.resolve(inspection(2, timestamp_s=1000.06), 1000.15)  # B's gate closed at 1000.05 + 0.09
    assert (late.part_id, late.late) == ("B", True)
    assert [p.part_id for p in tracker.expired(1000.30)] == ["C"]
    assert (tracker.late, tracker.not_inspected, tracker.pending) == (1, 1, 0)


def test_positions_tracking_is_a_shift_register(inspection) -> None:
    tracker = PartTracker(TrackingOptions(mode="positions", gate_positions=2))
    tracker.on_trigger("A", 0.0)
    tracker.on_trigger("B", 0.0)
    assert tracker.resolve(inspection(1, timestamp_s=0.0), 0.0).late is False  # A: one part behind it, gate 2 away
    tracker.on_trigger("C", 0.0)
    tracker.on_trigger("D", 0.0)  # B is now 2 positions on: at the gate
    assert tracker.resolve(inspection(2, timestamp_s=0.0), 0.0).late is True
    assert [p.part_id for p in tracker.expired(0.0)] == []  # C is one behind the gate
    tracker.on_trigger("E", 0.0)
    assert [p.part_id for p in tracker.expired(0.0)] == ["C"]


def test_frame_part_id_wins_and_sequence_is_the_fallback(inspection) -> None:
    tracker = PartTracker(TrackingOptions())
    tracker.on_trigger("X", 0.0)
    assert tracker.resolve(inspection(9, part_id="X"), 0.0).source == "frame"
    assert tracker.pending == 0  # matched by id, not left in the FIFO
    fallback = tracker.resolve(inspection(9), 0.0)
    assert (fallback.part_id, fallback.source) == ("9", "sequence")


def test_a_trigger_far_older_than_the_frame_is_stale_not_the_frames_part(inspection) -> None:
    tracker = PartTracker(TrackingOptions(frame_within_ms=50))
    tracker.on_trigger("A", 10.00)  # the camera never saw A
    tracker.on_trigger("B", 10.50)
    tracked = tracker.resolve(inspection(1, timestamp_s=10.52), 10.53)
    assert (tracked.part_id, [p.part_id for p in tracked.stale]) == ("B", ["A"])
    assert (tracker.not_inspected, tracker.pending) == (1, 0)


def test_every_reason_code_has_a_distinct_default_plc_error_number() -> None:
    failsafe = [c for c in ReasonCode if c.plc_error != 0]
    assert len({c.plc_error for c in failsafe}) == len(failsafe)
    for kind in ("modbus", "s7", "opcua"):
        assert default_map(kind).error_codes == default_error_codes()


def test_signal_map_error_codes_are_checked_against_reason_codes() -> None:
    renumbered = modbus.Options(signals={"outputs": {"reject": "coil:0"}, "error_codes": {"camera_lost": 99}})
    codes = renumbered.resolved_map().error_codes
    assert codes["camera_lost"] == 99 and codes["decode_error"] == ReasonCode.DECODE_ERROR.plc_error
    with pytest.raises(ValueError, match="unknown reason code.*camera_gone"):
        modbus.Options(signals={"outputs": {"reject": "coil:0"}, "error_codes": {"camera_gone": 9}})
