"""MQTT telemetry against a real Mosquitto (Debian's broker; STATION_TEST_MOSQUITTO from .ci/services.sh):
retained presence with a last will, MQTT 5 persistent session, the disk outbox across a broker outage and
a station restart, TLS with user/password and the broker's topic ACLs (a throwaway CA made here)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from inspection.domain.judge import Judge
from inspection.domain.recipe import Recipe
from inspection.domain.types import Box, Detection, Frame, Inspection
from inspection.telemetry import TelemetryState, units_inspected
from inspection.telemetry.mqtt import MqttTelemetry, Options

WAIT_S = 20.0
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class Mosquitto:
    """One mosquitto process on 127.0.0.1 with the config lines given; stop/start keep its port."""

    def __init__(self, binary: str, folder: Path, lines: list[str]) -> None:
        self.binary, self.folder, self.port = binary, folder, free_port()
        user = ["user root"] if os.geteuid() == 0 else []  # as root it drops to `mosquitto`: keep our files readable
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join([f"listener {self.port} 127.0.0.1", *user, "persistence false", *lines]) + "\n",
                             encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        log = (self.folder / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log, stderr=log)
        wait_for(self._listening, f"mosquitto on port {self.port}")
        return self

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    binary = os.environ.get("STATION_TEST_MOSQUITTO")
    if not binary:
        pytest.skip("no mosquitto: run the tests through .ci/run, or eval \"$(.ci/services.sh start)\" first "
                    "(sets STATION_TEST_MOSQUITTO)")
    brokers: list[Mosquitto] = []

    def make(lines: list[str] | None = None) -> Mosquitto:
        folder = tmp_path / f"mosquitto{len(brokers)}"
        folder.mkdir()
        broker = Mosquitto(binary, folder, ["allow_anonymous true"] if lines is None else lines)
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


class Subscriber:
    """A real paho client (MQTT 5) that records every message under a topic filter."""

    def __init__(self, port: int, topic: str, client_id: str, tls: dict[str, Any] | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if auth:
            self.client.username_pw_set(*auth)
        if tls:
            self.client.tls_set(**tls)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        assert subscribed.wait(WAIT_S), "subscriber did not get SUBACK"

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def on(self, suffix: str) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if m.topic.endswith("/" + suffix)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def parts(n: int) -> list[Inspection]:
    judge = Judge(Recipe(name="board"))
    out = []
    for i in range(n):
        frame = Frame(np.zeros((8, 8, 3), np.uint8), "cam0", i, time.time(), part_id=f"PCB-{i:04d}")
        found = (Detection("bridge", 0.87, Box(1, 2, 4, 3), 0),) if i % 2 else ()
        j = judge.judge(found)
        out.append(Inspection(frame, found, j.verdict, j.defects, recipe="board", model_id="m1"))
    return out


def feed(state: TelemetryState, n: int) -> None:
    for inspection in parts(n):
        state.update(inspection, units_inspected(inspection, source=state.source))


def test_presence_is_retained_online_offline_and_cfx_events_flow(mosquitto: Callable[..., Mosquitto]) -> None:
    broker = mosquitto().start()
    state = TelemetryState(("bridge",), source="inspection-station/line1")
    options = Options(kind="mqtt", port=broker.port, protocol="5", connect_timeout_s=2)
    sub = Subscriber(broker.port, "inspection/line1/#", "mes")
    try:
        with MqttTelemetry(options, state, "line1") as sink:
            wait_for(lambda: sink.stats.connected, "the connection")
            feed(state, 2)
            state.alarm("camera cam0", "camera cam0 lost")
            wait_for(lambda: len(sub.on("cfx")) == 5, "2 x WorkStarted/WorkCompleted and 1 FaultOccurred")
            assert [m.payload for m in sub.on("presence")] == [b"online"]
            names = [json.loads(m.payload)["MessageName"] for m in sub.on("cfx")]
            assert names == ["CFX.Production.WorkStarted", "CFX.Production.WorkCompleted"] * 2 + [
                "CFX.ResourcePerformance.FaultOccurred"]
        wait_for(lambda: [m.payload for m in sub.on("presence")][-1:] == [b"offline"], "offline on a clean close")
        late = Subscriber(broker.port, "inspection/line1/presence", "dashboard")
        wait_for(lambda: late.on("presence"), "the retained presence")
        assert late.on("presence")[0].retain and late.on("presence")[0].payload == b"offline"
        late.close()
    finally:
        sub.close()


VANISHING_STATION = textwrap.dedent("""
    import sys, time
    from inspection.telemetry import TelemetryState
    from inspection.telemetry.mqtt import MqttTelemetry, Options
    state = TelemetryState(("bridge",), source="s")
    sink = MqttTelemetry(Options(kind="mqtt", port=int(sys.argv[1]), protocol="5"), state, "line9").open()
    while not sink.stats.connected:
        time.sleep(0.05)
    print("connected", flush=True)
    time.sleep(600)
""")


def test_the_last_will_says_offline_when_the_station_vanishes(tmp_path: Path,
                                                              mosquitto: Callable[..., Mosquitto]) -> None:
    broker = mosquitto().start()
    script = tmp_path / "station.py"
    script.write_text(VANISHING_STATION, encoding="utf-8")
    sub = Subscriber(broker.port, "inspection/line9/presence", "scada")
    proc = subprocess.Popen([sys.executable, str(script), str(broker.port)], cwd=REPO, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"connected"
        wait_for(lambda: [m.payload for m in sub.on("presence")] == [b"online"], "online")
        proc.kill()  # kill -9: no DISCONNECT, no goodbye; the broker publishes the will
        proc.wait(10)
        wait_for(lambda: [m.payload for m in sub.on("presence")] == [b"online", b"offline"], "the last will")
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()


def test_disk_outbox_and_persistent_session_carry_messages_across_outage_and_restart(
        tmp_path: Path, mosquitto: Callable[..., Mosquitto]) -> None:
    broker = mosquitto()  # not started: the broker is away when the station starts
    outbox = tmp_path / "outbox.db"
    options = Options(kind="mqtt", port=broker.port, protocol="5", connect_timeout_s=1, reconnect_max_s=0.3,
                      outbox=outbox, cfx_events=False, session_expiry_s=600)
    events: list[tuple[str, str, str]] = []
    state = TelemetryState(("bridge",), source="inspection-station/line1")
    with MqttTelemetry(options, state, "line1", lambda *e: events.append(e)) as sink:
        wait_for(lambda: events, "the unreachable-broker alarm")
        feed(state, 5)
        wait_for(lambda: sink.stats.buffered == 5, "5 messages on disk")
    assert outbox_rows(outbox) == 5
    # the station restarts (a new process would see the same file); the broker is still away
    state = TelemetryState(("bridge",), source="inspection-station/line1")
    with MqttTelemetry(options, state, "line1") as sink:
        assert sink.stats.buffered == 5
        feed(state, 2)  # parts of the new run join the queue behind the old ones
        wait_for(lambda: sink.stats.buffered == 7, "7 messages on disk")
        broker.start()
        wait_for(lambda: sink.stats.connected, "the connection")
        wait_for(lambda: sink.stats.buffered == 0, "the outbox acknowledged by the broker")
        assert sink.stats.published >= 7 and not outbox_rows(outbox)
    # Reconnect with the same client id: the broker kept the session (persistent, 600 s expiry).
    with MqttTelemetry(options, TelemetryState(("bridge",), source="s"), "line1") as sink:
        wait_for(lambda: sink.stats.connected, "the reconnection")
        assert sink.stats.session_present


def outbox_rows(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return int(conn.execute("select count(*) from outbox").fetchone()[0])


def test_outbox_messages_reach_a_subscriber_in_order_after_the_broker_returns(
        tmp_path: Path, mosquitto: Callable[..., Mosquitto]) -> None:
    broker = mosquitto().start()
    sub = Subscriber(broker.port, "inspection/line1/units_inspected", "mes")
    broker.stop()
    sub.close()
    options = Options(kind="mqtt", port=broker.port, connect_timeout_s=1, reconnect_max_s=0.3,
                      outbox=tmp_path / "outbox.db", cfx_events=False)
    state = TelemetryState(("bridge",), source="s")
    with MqttTelemetry(options, state, "line1") as sink:
        feed(state, 4)
        wait_for(lambda: sink.stats.buffered == 4, "4 on disk")
    broker.start()
    sub = Subscriber(broker.port, "inspection/line1/units_inspected", "mes2")
    try:
        with MqttTelemetry(options, TelemetryState(("bridge",), source="s"), "line1") as sink:
            wait_for(lambda: len(sub.on("units_inspected")) == 4, "the 4 messages of the previous run")
            units = [json.loads(m.payload)["MessageBody"]["InspectedUnits"][0]["UnitIdentifier"]
                     for m in sub.on("units_inspected")]
            assert units == [f"PCB-{i:04d}" for i in range(4)]
            wait_for(lambda: sink.stats.buffered == 0, "the outbox emptied")
    finally:
        sub.close()


# --- TLS, passwords, ACLs ---------------------------------------------------------------------------------

def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "throwaway test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.fixture
def secure_broker(tmp_path: Path, mosquitto: Callable[..., Mosquitto]) -> Iterator[tuple[Mosquitto, Path]]:
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not Path(passwd).exists():
        pytest.skip("mosquitto_passwd is not installed (Debian package mosquitto)")
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    passwords = tmp_path / "passwords"
    subprocess.run([passwd, "-c", "-b", str(passwords), "line1", "s3cret-line1"], check=True, timeout=30)
    subprocess.run([passwd, "-b", str(passwords), "mes", "s3cret-mes"], check=True, timeout=30)
    acl = tmp_path / "acl"
    acl.write_text("user line1\ntopic write inspection/line1/#\n\nuser mes\ntopic read inspection/#\n",
                   encoding="utf-8")
    broker = mosquitto([f"cafile {ca}", f"certfile {cert}", f"keyfile {key}", "allow_anonymous false",
                        f"password_file {passwords}", f"acl_file {acl}"]).start()
    yield broker, ca


def test_tls_with_password_publishes_and_the_acl_refuses_another_stations_topics(
        secure_broker: tuple[Mosquitto, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    broker, ca = secure_broker
    monkeypatch.setenv("LINE1_MQTT_PASSWORD", "s3cret-line1")
    sub = Subscriber(broker.port, "inspection/#", "mes", tls={"ca_certs": str(ca)}, auth=("mes", "s3cret-mes"))
    try:
        state = TelemetryState(("bridge",), source="inspection-station/line1")
        good = Options(kind="mqtt", port=broker.port, tls=True, ca_file=ca, username="line1",
                       password_env="LINE1_MQTT_PASSWORD", protocol="5", connect_timeout_s=3)
        with MqttTelemetry(good, state, "line1") as sink:
            wait_for(lambda: sink.stats.connected, "the TLS connection")
            feed(state, 2)
            wait_for(lambda: len(sub.on("units_inspected")) == 2, "2 messages over TLS")
            assert all(m.topic.startswith("inspection/line1/") for m in sub.messages)

        # Line 1's account may not write line 2's topics: MQTT 5 tells us, and we raise an alarm.
        events: list[tuple[str, str, str]] = []
        other = good.model_copy(update={"topic_prefix": "inspection/line2", "client_id": "line1-as-line2"})
        state2 = TelemetryState(("bridge",), source="s")
        with MqttTelemetry(other, state2, "line1", lambda *e: events.append(e)) as sink:
            wait_for(lambda: sink.stats.connected, "the connection")
            feed(state2, 1)
            wait_for(lambda: any("refused a publish" in e[2] for e in events), "the ACL refusal alarm")
        assert not [m for m in sub.messages if m.topic.startswith("inspection/line2/")]

        # A wrong password is refused at CONNECT, with an alarm that says what to check.
        events.clear()
        monkeypatch.setenv("LINE1_MQTT_PASSWORD", "wrong")
        with MqttTelemetry(good.model_copy(update={"client_id": "wrong-pw"}), TelemetryState(("bridge",), source="s"),
                           "line1", lambda *e: events.append(e)) as sink:
            wait_for(lambda: events, "the refusal alarm")
            assert "refused" in events[0][2] and "username/password" in events[0][2]
            assert not sink.stats.connected
        # Without the CA the station does not trust the broker: the TLS handshake fails, nothing is sent.
        events.clear()
        no_ca = good.model_copy(update={"ca_file": None, "client_id": "no-ca"})
        monkeypatch.setenv("LINE1_MQTT_PASSWORD", "s3cret-line1")
        with MqttTelemetry(no_ca, TelemetryState(("bridge",), source="s"), "line1",
                           lambda *e: events.append(e)) as sink:
            wait_for(lambda: events, "the TLS alarm")
            assert "certificate" in events[0][2].lower() and not sink.stats.connected
    finally:
        sub.close()
