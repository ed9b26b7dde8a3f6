"""MQTT telemetry against a real broker (amqtt on 127.0.0.1, a free port) and a real paho subscriber:
a Station run publishes CFX UnitsInspected per part, counts equal to the SQLite verdicts (retained for a late
subscriber) and alarms; the broker going away never stops the inspection, is logged as an alarm, buffers
and drops as configured; the broker coming back gets the buffer and the current state."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from amqtt.broker import Broker
from asyncua.sync import Client
from paho.mqtt.enums import CallbackAPIVersion

from inspection.aio.loop import LoopThread
from inspection.config import load_station_config
from inspection.domain.judge import Judge
from inspection.domain.recipe import Recipe
from inspection.domain.types import Box, Detection, Frame, Inspection, VerdictStatus
from inspection.errors import ConfigError
from inspection.process.controller import Change, Proposal
from inspection.records.store import Store
from inspection.runtime.pipeline import Station
from inspection.telemetry import CFX_RESULTS, TelemetryState, units_inspected
from inspection.telemetry.mqtt import MqttTelemetry, Options

pytestmark = pytest.mark.plc
WAIT_S = 15.0  # upper bound of every wait for the broker/subscriber; a pass takes well under a second


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


PACKET = re.compile(r"^(\S+) <-in-- PublishPacket\(.*fixed=MQTTFixedHeader\(packet_type=3, flags=(\d+),.*"
                    r"variable=PublishVariableHeader\(topic=([^,]+),")


class BrokerThread(logging.Handler):
    """amqtt broker (MIT, pure Python) on its own event loop thread; stop() and start() again on one port.

    Its packet logger tells what each client published, with the QoS and retain flag on the wire
    (amqtt delivers to subscribers at the subscription's QoS, so a subscriber cannot see the sent QoS)."""

    def __init__(self, port: int) -> None:
        super().__init__(logging.DEBUG)
        self.port = port
        self._loop: LoopThread | None = None
        self._broker: Broker | None = None
        self.received: list[tuple[str, str, int, bool]] = []  # (client id, topic, qos, retain)
        packets = logging.getLogger("amqtt.broker.plugins.PacketLoggerPlugin")
        packets.setLevel(logging.DEBUG)
        packets.propagate = False
        packets.handlers = [self]

    def emit(self, record: logging.LogRecord) -> None:
        if match := PACKET.match(record.getMessage()):
            flags = int(match[2])
            self.received.append((match[1], match[3], (flags >> 1) & 3, bool(flags & 1)))

    def published(self, client_id: str, topic: str) -> set[tuple[int, bool]]:
        """The (qos, retain) pairs `client_id` published `topic` with."""
        return {(q, r) for c, t, q, r in list(self.received) if c == client_id and t == topic}

    def count(self, client_id: str, topic: str) -> int:
        return sum(c == client_id and t == topic for c, t, _, _ in list(self.received))

    def start(self) -> BrokerThread:
        self._loop = LoopThread(f"amqtt-{self.port}")
        self._loop.run(self._start(), 10.0)
        return self

    async def _start(self) -> None:
        self._broker = Broker({
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
                        "amqtt.plugins.logging_amqtt.PacketLoggerPlugin": {}},
        })
        await self._broker.start()

    @staticmethod
    async def _shutdown(broker: Broker) -> None:
        # Stop listening first, as a crashed or stopped broker process would: amqtt's own shutdown drops the
        # sessions while it still accepts, and a client would reconnect into the dying broker.
        for server in broker._servers.values():
            server.instance.close()
        await broker.shutdown()

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._broker is not None:
            self._loop.run(self._shutdown(self._broker), 10.0)
            self._broker = None
        self._loop.stop()
        self._loop = None


class Subscriber:
    """A real paho client subscribed to `<prefix>/#` at QoS 1 (re-subscribes after a reconnect)."""

    def __init__(self, port: int, prefix: str, name: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(WAIT_S), "subscriber got no SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def on(self, topic_end: str) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if m.topic.endswith("/" + topic_end)]

    def payloads(self, topic_end: str) -> list[Any]:
        return [json.loads(m.payload) for m in self.on(topic_end)]

    def parts_counted(self) -> int:
        """Parts in the newest `counts` message (-1 before the first)."""
        counts = self.payloads("counts")
        return sum(counts[-1]["counts"].values()) if counts else -1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker() -> Iterator[BrokerThread]:
    logging.getLogger("amqtt").setLevel(logging.WARNING)  # it logs every connection at INFO
    server = BrokerThread(free_port()).start()
    yield server
    server.stop()


def _station_yaml(tmp_path: Path, parts_dir: Path, model: Path, mqtt_port: int, opcua_port: int) -> Path:
    (tmp_path / "recipe.yaml").write_text(f"name: test-board\nmodel: {model}\ndeadline_ms: 60000\n",
                                          encoding="utf-8")
    path = tmp_path / "station.yaml"
    path.write_text(
        f"name: line1\ndata_dir: {tmp_path / 'data'}\nrecipe: recipe.yaml\n"
        f"cameras:\n  - {{kind: replay, id: cam0, path: {parts_dir}, loop: true}}\n"
        "detector: {kind: ultralytics, device: cpu, imgsz: 96}\n"
        "telemetry:\n"
        f"  - {{kind: mqtt, port: {mqtt_port}, connect_timeout_s: 2, reconnect_max_s: 0.5, buffer_messages: 10, "
        "cfx_events: false}\n"  # the buffer arithmetic below counts UnitsInspected only
        f"  - {{kind: opcua, port: {opcua_port}, security: {{allow_insecure: true}}}}\n", encoding="utf-8")
    return path


def test_station_telemetry_over_mqtt_survives_a_broker_restart(
        tmp_path: Path, parts_dir: Path, tiny_model: Path, broker: BrokerThread) -> None:
    config = load_station_config(_station_yaml(tmp_path, parts_dir, tiny_model, broker.port, free_port()))
    subscriber = Subscriber(broker.port, "inspection/line1", "mes")
    try:
        with Station(config) as station:
            sink = station.telemetry_sinks[0]
            assert isinstance(sink, MqttTelemetry) and sink.prefix == "inspection/line1"
            wait_for(lambda: sink.stats.connected, "the station to connect")
            station.run(max_parts=6)
            wait_for(lambda: len(subscriber.on("units_inspected")) == 6, "6 UnitsInspected messages")
            wait_for(lambda: subscriber.parts_counted() == 6, "counts of 6 parts")
            with Store(station.db_path) as store:
                rows = {r["part_key"]: r["verdict"] for r in store.inspections()}
                stored_counts = store.counts()
            # One CFX message per logged verdict, with the verdict it was logged with, at QoS 1, not retained.
            units = subscriber.on("units_inspected")
            assert not any(m.retain for m in units)
            client = "inspection-line1"
            assert broker.published(client, "inspection/line1/units_inspected") == {(1, False)}
            assert broker.published(client, "inspection/line1/counts") == {(0, True)}
            assert broker.published(client, "inspection/line1/alarms") == {(1, True)}
            results = {}
            for message in (json.loads(m.payload) for m in units):
                assert message["MessageName"] == "CFX.Production.TestAndInspection.UnitsInspected"
                assert message["Source"] == "inspection-station/line1"
                unit = message["MessageBody"]["InspectedUnits"][0]
                assert unit["Inspections"][0]["InspectionName"] == "test-board"
                assert unit["Inspections"][0]["TestProcedure"] == station.detector.model_id
                results[unit["UnitIdentifier"]] = unit["OverallResult"]
            assert results == {key: CFX_RESULTS[VerdictStatus(v)] for key, v in rows.items()}
            counts = subscriber.payloads("counts")[-1]
            assert counts["counts"] == stored_counts
            assert counts["yield_pct"] == pytest.approx(100.0 * stored_counts["PASS"] / 6, abs=1e-3)
            assert set(counts["class_rates"]) == set(station.detector.class_names)
            assert "audit_head" in counts  # the audit chain head travels with the counts (docs/security.md)
            # A late subscriber (a dashboard started now) gets the retained counts and alarms at once.
            late = Subscriber(broker.port, "inspection/line1", "dashboard")
            wait_for(lambda: late.on("counts") and late.on("alarms"), "retained counts and alarms")
            assert late.on("counts")[0].retain and late.payloads("counts")[-1]["counts"] == stored_counts
            assert late.payloads("alarms")[-1] == {}
            late.close()
            wait_for(lambda: sink.stats.buffered == 0, "every QoS 1 message acknowledged")

            # The broker goes away: the station keeps inspecting, the loss is an alarm in the store, the
            # 12 new CFX messages do not fit the buffer of 10 (the oldest 2 are dropped), counts keep the newest.
            broker.stop()
            events = wait_for(lambda: _events(station, "telemetry_mqtt", "alarm"), "an alarm event")
            assert f"MQTT broker 127.0.0.1:{broker.port} connection lost" in events[0]["message"]
            assert "telemetry buffered" in events[0]["message"]
            before = sink.stats
            summary = station.run(max_parts=12)
            assert summary.parts == 12
            with Store(station.db_path) as store:
                assert sum(store.counts().values()) == 18
            wait_for(lambda: sink.stats.dropped == 2, "2 dropped messages")
            stats = sink.stats
            assert stats.buffered == 10 and not stats.connected
            assert stats.superseded > before.superseded  # counts/alarms: only the newest waits
            assert "telemetry_mqtt" in station.telemetry.snapshot()["alarms"]

            # The broker comes back (empty: no retained messages): the station reconnects, sends the buffer
            # and re-publishes its current counts/alarms; publishing goes on for new parts.
            broker.received.clear()
            assert _events(station, "telemetry_mqtt", "info") == []
            broker.start()
            back = wait_for(lambda: _events(station, "telemetry_mqtt", "info"), "the reconnection event")
            assert f"MQTT broker 127.0.0.1:{broker.port} reachable again" in back[0]["message"]
            assert "sending 10 buffered messages, 2 dropped during the outage" in back[0]["message"]
            wait_for(lambda: sink.stats.buffered == 0, "the buffer acknowledged by the broker")
            assert sink.stats.published >= stats.published + 10 and sink.stats.connects == 2
            assert broker.count(client, "inspection/line1/units_inspected") == 10  # the buffer, at QoS 1
            again = Subscriber(broker.port, "inspection/line1", "mes-again")
            wait_for(lambda: again.on("counts") and again.on("alarms"), "retained state after the restart")
            assert again.parts_counted() == 18
            wait_for(lambda: again.payloads("alarms")[-1:] == [{}], "the MQTT alarm cleared")
            station.run(max_parts=2)
            wait_for(lambda: len(again.on("units_inspected")) >= 2, "new parts published after the restart")
            wait_for(lambda: again.parts_counted() == 20, "counts of 20 parts")
            again.close()
            # The same state over OPC UA (the second telemetry sink).
            with Client(station.telemetry_sinks[1].endpoint, timeout=5) as client:
                ns = client.get_namespace_index("urn:inspection-station:telemetry")
                assert client.get_node(f"ns={ns};s=Station.Parts").read_value() == 20
            thread = sink._thread
        assert thread is not None and not thread.is_alive()  # closed: disconnected and joined
    finally:
        subscriber.close()


def test_station_with_process_feedback_publishes_the_parameters_in_force(
        tmp_path: Path, broker: BrokerThread) -> None:
    """With `process:` the controller's listener feeds the telemetry: each CFX message carries the values."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # as test_process_station does
    from conftest import make_untrained_yolo

    from inspection.simulation.synthetic import SOLDER_CLASSES

    model = make_untrained_yolo(tmp_path / "solder.pt", SOLDER_CLASSES, imgsz=96)
    (tmp_path / "recipe.yaml").write_text(f"name: solder-board\nmodel: {model}\ndeadline_ms: 60000\n")
    (tmp_path / "station.yaml").write_text(
        f"name: twin-line\ndata_dir: {tmp_path / 'data'}\nrecipe: recipe.yaml\n"
        "cameras:\n  - {kind: twin, id: cam0, process: solder, seed: 4, width: 96, height: 96, max_parts: 4}\n"
        "detector: {kind: ultralytics, device: cpu, imgsz: 96}\n"
        "process: {port: {kind: twin, process: solder}, process: solder}\n"
        f"telemetry: {{kind: mqtt, port: {broker.port}, topic_prefix: plant/solder}}\n")
    subscriber = Subscriber(broker.port, "plant/solder", "mes")
    try:
        with Station(load_station_config(tmp_path / "station.yaml")) as station:
            assert station.feedback.telemetry is station.telemetry
            station.run()
            wait_for(lambda: len(subscriber.on("units_inspected")) == 4, "4 UnitsInspected messages")
        units = [m["MessageBody"]["InspectedUnits"][0] for m in subscriber.payloads("units_inspected")]
        assert [u["UnitIdentifier"] for u in units] == [f"solder-{i:06d}" for i in range(4)]
        assert all(set(u["ProcessParameters"]) >= {"paste_volume_pct", "reflow_peak_c"} for u in units)
        wait_for(lambda: subscriber.parts_counted() == 4, "counts of 4 parts")
    finally:
        subscriber.close()


def _events(station: Station, kind: str, level: str) -> list[dict[str, Any]]:
    assert station.store is not None
    return [e for e in station.store.events() if e["kind"] == kind and e["level"] == level]


def _inspections(n: int) -> list[Inspection]:
    """Real judged inspections: every other part has a bridge (FAIL), the others pass."""
    judge = Judge(Recipe(name="solder-board"))
    out = []
    for i in range(n):
        frame = Frame(np.zeros((64, 64, 3), np.uint8), "cam0", i, 1_700_000_000.0 + i, part_id=f"PCB-{i:04d}")
        found = (Detection("bridge", 0.87, Box(10, 20, 40, 30), 0),) if i % 2 else ()
        j = judge.judge(found)
        out.append(Inspection(frame, found, j.verdict, j.defects, recipe="solder-board", model_id="m1"))
    return out


def test_broker_down_at_start_is_reported_buffered_and_delivered_when_it_comes(tmp_path: Path) -> None:
    port = free_port()
    events: list[tuple[str, str, str]] = []
    state = TelemetryState(("bridge", "insufficient"), source="inspection-station/line2")
    options = Options(kind="mqtt", port=port, topic_prefix="plant/aoi/line2", connect_timeout_s=1,
                      reconnect_max_s=0.3, buffer_messages=3, qos={"counts": 1},
                      cfx_events=False)  # the buffer arithmetic counts UnitsInspected only
    with MqttTelemetry(options, state, "line2", lambda *e: events.append(e)) as sink:
        wait_for(lambda: events, "the unreachable-broker alarm")
        level, kind, message = events[0]
        assert (level, kind) == ("alarm", "telemetry_mqtt")
        assert message.startswith(f"MQTT broker 127.0.0.1:{port} not reachable: ")
        assert "refused" in message.lower() and "0 dropped" in message
        for inspection in _inspections(5):  # never blocks, never raises: the broker is away
            state.update(inspection, units_inspected(inspection, source=state.source))
        assert sink.stats.dropped == 2 and sink.stats.buffered == 3
        wait_for(lambda: len(events) == 2, "the buffer-full alarm")
        assert events[1][0] == "alarm" and "the oldest units_inspected/parameter_changes messages are being " \
            "dropped (2 so far)" in events[1][2]
        broker = BrokerThread(port).start()
        try:
            wait_for(lambda: any(e[0] == "info" for e in events), "the reconnection event")
            wait_for(lambda: sink.stats.buffered == 0, "the buffer acknowledged")
            late = Subscriber(port, "plant/aoi/line2", "mes")
            wait_for(lambda: late.on("counts"), "retained counts")
            counts = late.on("counts")[-1]
            assert counts.retain and broker.published("inspection-line2", "plant/aoi/line2/counts") == {(1, True)}
            assert broker.count("inspection-line2", "plant/aoi/line2/units_inspected") == 3  # the newest 3 of 5
            assert json.loads(counts.payload) == {"counts": {"PASS": 3, "FAIL": 2, "ERROR": 0, "REVIEW": 0},
                                                  "yield_pct": 60.0,
                                                  "class_rates": {"bridge": 0.4, "insufficient": 0.0}}
            state.alarm("camera cam0", "camera cam0 lost")
            wait_for(lambda: late.payloads("alarms")[-1:] == [{"camera cam0": "camera cam0 lost"}], "the alarm")
            proposal = Proposal(1, 120, 1_700_000_100.0, "move", "auto", "ewma",
                                (Change("paste_volume_pct", 96.0, 99.5),), {"n": 120}, status="applied",
                                approver="auto")
            state.change(proposal)
            wait_for(lambda: late.payloads("parameter_changes") == [proposal.as_record()], "the parameter change")
            assert broker.published("inspection-line2", "plant/aoi/line2/parameter_changes") == {(1, False)}
            late.close()
        finally:
            sink.close()
            broker.stop()
    assert [e[0] for e in events] == ["alarm", "alarm", "info"]  # once per outage, not per retry
    assert "sending 3 buffered messages, 2 dropped during the outage" in events[2][2]


def test_close_with_the_broker_away_returns_and_joins_the_thread() -> None:
    state = TelemetryState(("bridge",))
    sink = MqttTelemetry(Options(kind="mqtt", port=free_port(), connect_timeout_s=0.5, close_timeout_s=0.5),
                         state).open()
    state.update(_inspections(1)[0])
    thread = sink._thread
    sink.close()
    assert thread is not None and not thread.is_alive()


@pytest.mark.parametrize(("telemetry", "error"), [
    ("{kind: mqtt, topic_prefix: 'plant/#'}", "telemetry.0.topic_prefix: Value error, 'plant/#': a topic prefix"),
    ("{kind: mqtt, password: x}", "telemetry.0: Value error, a password needs a username"),
    ("{kind: mqtt, qos: {counts: 3}}", "telemetry.0.qos.counts: Input should be 0, 1 or 2"),
    ("[{kind: mqtt, prot: 1883}]", "telemetry.0.prot: unknown key"),
    ("[{kind: amqp}]", "telemetry.0.kind: unknown telemetry kind 'amqp'; installed: mqtt, opcua"),
    ("mqtt", "telemetry: expected a list of telemetry sections"),
    ("{kind: mqtt, ca_file: ca.pem}", "telemetry.0: Value error, ca_file is only used with tls: true"),
])
def test_bad_telemetry_config_names_the_key(tmp_path: Path, station_yaml: Path, telemetry: str, error: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(station_yaml.read_text() + f"telemetry: {telemetry}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_station_config(bad)
    assert error in str(info.value)


def test_password_env_not_set_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATION_TEST_MQTT_PASSWORD", raising=False)
    options = Options(kind="mqtt", username="aoi", password_env="STATION_TEST_MQTT_PASSWORD")
    sink = MqttTelemetry(options, TelemetryState(("bridge",)))
    with pytest.raises(ConfigError, match="password_env: the environment variable STATION_TEST_MQTT_PASSWORD is not"):
        sink.open()
    assert sink._thread is None


def test_station_yaml_without_telemetry_still_loads(station_yaml: Path) -> None:
    config = load_station_config(station_yaml)
    assert config.telemetry == []
