"""MQTT telemetry (paho-mqtt): CFX UnitsInspected per part, counts, alarms and parameter changes.

Topics under `topic_prefix` (default `inspection/<station name>`), payloads as in docs/process_control.md:
`units_inspected` (QoS 1, not retained), `counts` (QoS 0, retained), `alarms` (QoS 1, retained),
`parameter_changes` (QoS 1, not retained), `cfx` (CFX WorkStarted/WorkCompleted/FaultOccurred/FaultCleared,
QoS 1, not retained).

Never in the way of a verdict: the thread that updates the `TelemetryState` only appends to a bounded
buffer (no I/O, no JSON). One thread of this adapter owns the paho client: it connects (TCP connect
bounded by `connect_timeout_s`, CONNACK too), runs the network loop, publishes, and reconnects with
backoff. While the broker is away, `counts`/`alarms` keep only their newest value (older ones are
superseded: they are state, not events) and QoS>0 messages wait in a buffer of `buffer_messages`; when it
is full the oldest is dropped and counted. A loss is reported through the station's event callback (an
alarm in the store), the return as an info event with what was sent and dropped.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import Field, field_validator, model_validator

from inspection.config import AdapterOptions, ConfigPath, StrictModel
from inspection.errors import ConfigError
from inspection.telemetry import TELEMETRY_TOPICS, TelemetryState
from inspection.telemetry.mqtt_outbox import Outbox

__all__ = ["MqttTelemetry", "Options", "TopicQos", "create"]

log = logging.getLogger(__name__)
EventSink = Callable[[str, str, str], None]  # (level "alarm"|"info", kind, message)
RETAINED = ("counts", "alarms", "health")  # state: only the newest value matters, a late subscriber gets it
ALARM_KIND = "telemetry_mqtt"
_LOOP_S = 0.05  # network-loop poll: the longest a queued message waits before it is written


class TopicQos(StrictModel):
    """QoS per topic (0 at most once, 1 at least once, 2 exactly once)."""

    units_inspected: Literal[0, 1, 2] = 1
    counts: Literal[0, 1, 2] = 0
    alarms: Literal[0, 1, 2] = 1
    parameter_changes: Literal[0, 1, 2] = 1
    cfx: Literal[0, 1, 2] = 1
    health: Literal[0, 1, 2] = 0
    health_warnings: Literal[0, 1, 2] = 1


class Options(AdapterOptions):
    kind: Literal["mqtt"]
    host: str = Field("127.0.0.1", description="MQTT broker host")
    port: int = Field(1883, ge=1, le=65535, description="MQTT broker port (8883 is usual with tls)")
    client_id: str | None = Field(None, description="MQTT client id; default inspection-<station name>")
    topic_prefix: str | None = Field(None, description="topics are <prefix>/units_inspected, …; "
                                     "default inspection/<station name>")
    username: str | None = Field(None, description="broker user (empty: anonymous)")
    password: str | None = Field(None, description="broker password (prefer password_env)")
    password_env: str | None = Field(None, description="name of the environment variable holding the password")
    tls: bool = Field(False, description="connect over TLS (the system's CAs, or ca_file)")
    ca_file: ConfigPath | None = Field(None, description="CA certificate (PEM) of the broker, with tls")
    keepalive_s: int = Field(30, ge=5, le=65535, description="MQTT keep-alive: a dead broker is noticed within 1.5x")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="TCP connect and CONNACK, each attempt")
    reconnect_max_s: float = Field(30.0, gt=0, le=3600, description="longest wait between reconnect attempts")
    buffer_messages: int = Field(1000, ge=1, le=1_000_000,
                                 description="QoS>0 messages kept while the broker is away; the oldest is dropped")
    max_inflight: int = Field(20, ge=1, le=65535, description="QoS>0 messages sent but not yet acknowledged")
    close_timeout_s: float = Field(3.0, ge=0, le=60, description="on close, time to send what is buffered")
    qos: TopicQos = Field(TopicQos(), description="QoS per topic (0 at most once, 1 at least once, 2 exactly once)")
    protocol: Literal["3.1.1", "5"] = Field("3.1.1", description="MQTT protocol version; 5 keeps a persistent "
                                            "session on the broker (session_expiry_s)")
    session_expiry_s: int = Field(3600, ge=0, le=4_294_967_295,
                                  description="MQTT 5: how long the broker keeps the session (subscriptions, "
                                  "unacknowledged QoS>0 messages) after a disconnect; 0 = a clean session")
    presence: bool = Field(True, description="retained <prefix>/presence: online on connect, offline on close and, "
                           "through the last will, when the station vanishes")
    outbox: ConfigPath | None = Field(None, description="SQLite file of a disk-backed outbox: QoS>0 messages wait "
                                      "there until acknowledged, across broker outages and station restarts")
    cfx_events: bool = Field(True, description="publish CFX WorkStarted/WorkCompleted per part and "
                             "FaultOccurred/FaultCleared per alarm on <prefix>/cfx")

    @field_validator("topic_prefix")
    @classmethod
    def _plain_topic(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip("/") or any(c in value for c in "+#\0")):
            raise ValueError(f"{value!r}: a topic prefix is a non-empty topic name without the wildcards + and #")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Options:
        if (self.password or self.password_env) and not self.username:
            raise ValueError("a password needs a username")
        if self.password and self.password_env:
            raise ValueError("give password or password_env, not both")
        if self.ca_file is not None and not self.tls:
            raise ValueError("ca_file is only used with tls: true")
        return self


@dataclass
class MqttStats:
    """Counters an integrator can read (and the tests check). `buffered` = waiting + in flight."""

    published: int = 0
    dropped: int = 0  # QoS>0 messages dropped because the buffer was full
    superseded: int = 0  # counts/alarms values replaced by a newer one before they were sent
    connects: int = 0
    outages: int = 0
    connected: bool = False
    buffered: int = 0
    session_present: bool = False  # MQTT 5: the broker still had our session at the last connect


class MqttTelemetry:
    """Publishes a TelemetryState's changes to an MQTT broker. `open()` never blocks on the broker."""

    def __init__(self, options: Options, state: TelemetryState, station: str = "station",
                 event: EventSink | None = None) -> None:
        self.options = options
        self.state = state
        self.prefix = (options.topic_prefix or f"inspection/{station}").rstrip("/")
        self.endpoint = f"{options.host}:{options.port}"
        self._event = event
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, Any]] = deque()
        self._latest: dict[str, Any] = {}
        self._inflight: set[int] = set()
        self._stats = MqttStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._refused: str | None = None
        self._outage: tuple[float, int] | None = None  # (since, dropped then) while the broker is away
        self._dropping_reported = False
        self._client_id = options.client_id or f"inspection-{station}"
        self._outbox: Outbox | None = None
        self._outbox_count = 0  # rows on disk, as of the adapter thread's last look
        self._mid_rows: dict[int, int] = {}  # paho message id → outbox row, while in flight
        self._refusals_reported = False

    def topic(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    # --- lifecycle -----------------------------------------------------------------------------

    def open(self) -> MqttTelemetry:
        if self._thread is not None:
            return self
        if self.options.outbox is not None:
            self._outbox = Outbox(self.options.outbox, self.options.buffer_messages)
            self._outbox_count = self._outbox.count()
        self._client = self._make_client()
        self.state.subscribe(self._offer)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.endpoint}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Send what is buffered (up to `close_timeout_s` while connected), disconnect, join the thread."""
        self.state.unsubscribe(self._offer)
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(self.options.close_timeout_s + self.options.connect_timeout_s + 2.0)
        if thread.is_alive():
            log.warning("MQTT telemetry thread for %s did not stop in time", self.endpoint)
        elif self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    def __enter__(self) -> MqttTelemetry:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> MqttStats:
        with self._lock:
            self._stats.buffered = len(self._queue) + (self._outbox_count if self._outbox is not None
                                                       else len(self._inflight))
            return MqttStats(**vars(self._stats))

    def health_signals(self) -> dict[str, float]:
        """Health probe (inspection.health.probe): messages waiting or in flight (the disk outbox included),
        as a share of `buffer_messages` (when it is full the oldest are dropped)."""
        return {"telemetry_backlog": self.stats.buffered / self.options.buffer_messages}

    # --- the station side: queue only --------------------------------------------------------------

    def _offer(self, topic: str, payload: Any) -> None:
        """Called under the state's lock by whichever thread updated it: O(1), no I/O."""
        if topic not in TELEMETRY_TOPICS or (topic == "cfx" and not self.options.cfx_events):
            return
        with self._lock:
            if topic in RETAINED:
                self._stats.superseded += int(topic in self._latest)
                self._latest[topic] = payload
                return
            if len(self._queue) >= self.options.buffer_messages:
                self._queue.popleft()
                self._stats.dropped += 1
            self._queue.append((topic, payload))

    # --- the adapter's thread: paho client, connect, publish, reconnect ---------------------------

    def _make_client(self) -> mqtt.Client:
        o = self.options
        if o.protocol == "5":  # clean_start False + a session expiry: the broker keeps the session
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=mqtt.MQTTv5)
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=mqtt.MQTTv311,
                                 clean_session=True)
        if o.presence:  # the broker publishes this when the station vanishes (crash, cable, power)
            client.will_set(self.topic("presence"), "offline", qos=1, retain=True)
        client.connect_timeout = o.connect_timeout_s
        client.max_inflight_messages_set(o.max_inflight)
        if o.username:
            password = o.password
            if o.password_env:
                password = os.environ.get(o.password_env)
                if password is None:
                    raise ConfigError(f"telemetry mqtt: password_env: the environment variable {o.password_env} "
                                      "is not set; set it or give the password another way")
            client.username_pw_set(o.username, password)
        if o.tls:
            try:
                client.tls_set(ca_certs=str(o.ca_file) if o.ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"telemetry mqtt: ca_file: cannot load {o.ca_file}: {exc}") from None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        if o.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = o.session_expiry_s
            client.connect_async(o.host, o.port, o.keepalive_s, clean_start=o.session_expiry_s == 0,
                                 properties=properties)  # no I/O here: the thread connects
        else:
            client.connect_async(o.host, o.port, o.keepalive_s)  # no I/O here: the thread connects
        return client

    def _run(self) -> None:
        delay, first = min(0.5, self.options.reconnect_max_s), True
        try:
            while not self._stop.is_set():
                if not self._stats.connected:
                    if not first:  # back off, also right after a loss: a restarting broker needs a moment
                        if self._wait(delay):
                            break
                        delay = min(delay * 2, self.options.reconnect_max_s)
                    first = False
                    if not self._connect():
                        continue
                    delay = min(0.5, self.options.reconnect_max_s)
                self._send_pending()
                rc = self._loop()
                if rc is not MQTTErrorCode.MQTT_ERR_SUCCESS and self._stats.connected:
                    self._lost(mqtt.error_string(rc))
            self._flush_and_disconnect()
        except Exception as exc:  # the thread must end with a message, never silently
            log.exception("MQTT telemetry thread failed")
            self._emit("alarm", f"MQTT telemetry to {self.endpoint} stopped: {type(exc).__name__}: {exc}; "
                       "restart the station to resume telemetry")

    def _wait(self, seconds: float) -> bool:
        """Back-off wait that keeps spooling to the disk outbox; True when asked to stop."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stop.wait(min(0.2, left)):
                return True
            self._spool()
        return False

    def _spool(self) -> None:
        """Queued QoS>0 messages to the disk outbox (adapter thread only)."""
        if self._outbox is None:
            return
        with self._lock:
            messages, self._queue = list(self._queue), deque()
        dropped = self._outbox.add(messages)
        self._outbox_count = self._outbox.count()
        if dropped:
            with self._lock:
                self._stats.dropped += dropped
            self._report_dropping()

    def _loop(self) -> MQTTErrorCode:
        assert self._client is not None
        try:
            return self._client.loop(_LOOP_S)
        except OSError as exc:
            log.debug("MQTT loop: %s", exc)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST

    def _connect(self) -> bool:
        """One attempt: TCP connect, CONNECT, wait for CONNACK; each bounded by connect_timeout_s."""
        assert self._client is not None
        self._refused = None
        try:
            self._client.reconnect()
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS, TLS handshake, timeout
            self._down(str(exc) or type(exc).__name__)
            return False
        deadline = time.monotonic() + self.options.connect_timeout_s
        while not self._stats.connected and self._refused is None and time.monotonic() < deadline:
            if self._stop.is_set() or self._loop() is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        if self._stats.connected:
            return True
        self._down(self._refused or f"no CONNACK within {self.options.connect_timeout_s:g} s")
        return False

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._refused = f"the broker refused the connection ({reason}); check username/password"
            return
        # Retained state is re-published on every connect: a restarted broker may have lost it. Read the
        # state before taking our lock (the station thread holds the state's lock when it calls `_offer`).
        counts, alarms = self.state.counts_payload(), self.state.snapshot()["alarms"]
        with self._lock:
            self._stats.connected = True
            self._stats.connects += 1
            self._stats.session_present = bool(getattr(flags, "session_present", False))
            self._latest.setdefault("counts", counts)
            self._latest.setdefault("alarms", alarms)
        if self.options.presence:
            client.publish(self.topic("presence"), "online", qos=1, retain=True)
        self._back()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self._stats.connected and not self._stop.is_set():
            from_broker = getattr(flags, "is_disconnect_packet_from_server", False)
            self._lost(f"the broker disconnected us ({reason})" if from_broker else
                       "the connection dropped (broker stopped, network down or keep-alive timeout)")

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            self._inflight.discard(mid)
            self._stats.published += 1
        row = self._mid_rows.pop(mid, None)
        if row is not None and self._outbox is not None:
            self._outbox.done(row)  # acknowledged (or refused below): it will not be sent again
            self._outbox_count = max(0, self._outbox_count - 1)
        if getattr(reason, "is_failure", False) and not self._refusals_reported:
            # MQTT 5 tells a refused publish (e.g. 0x87 not authorized by the broker's ACL); 3.1.1 cannot.
            self._refusals_reported = True
            self._emit("alarm", f"MQTT broker {self.endpoint} refused a publish ({reason}); check the broker's "
                       f"ACL for user {self.options.username or '(anonymous)'} on {self.prefix}/#")

    def _send_pending(self) -> None:
        """Newest counts/alarms first, then queued messages while paho's in-flight window has room."""
        with self._lock:
            latest, self._latest = self._latest, {}
        for topic, payload in latest.items():
            if not self._publish(topic, payload):
                with self._lock:
                    self._latest.setdefault(topic, payload)  # a newer value may have arrived meanwhile
        if self._outbox is not None:
            self._send_outbox()
            return
        while True:
            with self._lock:
                if not self._queue or len(self._inflight) >= self.options.max_inflight:
                    return
                topic, payload = self._queue.popleft()
            if not self._publish(topic, payload):
                with self._lock:
                    self._queue.appendleft((topic, payload))
                return

    def _send_outbox(self) -> None:
        assert self._client is not None and self._outbox is not None
        self._spool()
        with self._lock:
            room = self.options.max_inflight - len(self._inflight)
        for row, topic, data in self._outbox.take(room):
            info = self._client.publish(self.topic(topic), data, qos=getattr(self.options.qos, topic),
                                        retain=False)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._outbox.retry(row)
                return
            if getattr(self.options.qos, topic) == 0:  # fire and forget: no PUBACK will come
                self._outbox.done(row)
                continue
            self._mid_rows[info.mid] = row
            with self._lock:
                self._inflight.add(info.mid)

    def _publish(self, topic: str, payload: Any) -> bool:
        assert self._client is not None
        qos = getattr(self.options.qos, topic)
        data = json.dumps(payload, separators=(",", ":"), default=str)
        info = self._client.publish(self.topic(topic), data, qos=qos, retain=topic in RETAINED)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        if qos > 0:
            with self._lock:  # paho keeps it until acknowledged and resends it after a reconnect
                self._inflight.add(info.mid)
        return True

    def _flush_and_disconnect(self) -> None:
        assert self._client is not None
        deadline = time.monotonic() + self.options.close_timeout_s
        while self._stats.connected and time.monotonic() < deadline:
            self._send_pending()
            with self._lock:
                done = not self._queue and not self._inflight and not self._latest
            done = done and (self._outbox is None or self._outbox_count == 0)
            if done or self._loop() is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        connected = self._stats.connected
        if self._outbox is not None:
            self._spool()  # what the broker has not acknowledged waits on disk for the next start
        with self._lock:
            left = len(self._queue) + (self._outbox_count if self._outbox is not None else len(self._inflight))
            self._stats.connected = False
        if left and self._outbox is not None:
            log.warning("MQTT telemetry closed with %d messages not yet delivered to %s: kept in the outbox, "
                        "sent at the next start", left, self.endpoint)
        elif left:
            log.warning("MQTT telemetry closed with %d messages not delivered to %s (lost: set an outbox to keep "
                        "them)", left, self.endpoint)
        try:
            if connected and self.options.presence:  # a clean DISCONNECT does not fire the will: say it
                info = self._client.publish(self.topic("presence"), "offline", qos=1, retain=True)
                until = time.monotonic() + min(1.0, self.options.close_timeout_s + 0.5)
                while not info.is_published() and time.monotonic() < until:
                    if self._client.loop(_LOOP_S) is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                        break
            self._client.disconnect()
            self._client.loop(_LOOP_S)  # write the DISCONNECT packet
        except OSError as exc:
            log.debug("MQTT disconnect: %s", exc)

    # --- reporting ----------------------------------------------------------------------------------

    def _down(self, reason: str) -> None:
        """A connect attempt failed: report once per outage, with what happens to the telemetry."""
        first = self._outage is None
        if first:
            self._outage = (time.monotonic(), self._stats.dropped)
            self._stats.outages += 1
            self._emit("alarm", f"MQTT broker {self.endpoint} not reachable: {reason}; {self._buffer_note()}; "
                       f"retrying (check the broker and telemetry host/port)")
        else:
            log.debug("MQTT broker %s still not reachable: %s", self.endpoint, reason)
            self._report_dropping()

    def _lost(self, reason: str) -> None:
        with self._lock:
            if not self._stats.connected:
                return
            self._stats.connected = False
        self._outage = (time.monotonic(), self._stats.dropped)
        self._stats.outages += 1
        self._emit("alarm", f"MQTT broker {self.endpoint} connection lost: {reason}; {self._buffer_note()}; "
                   "reconnecting")

    def _back(self) -> None:
        if self._outage is None:
            log.info("MQTT telemetry connected to %s (topics %s/…)", self.endpoint, self.prefix)
            return
        since, dropped_before = self._outage
        self._outage, self._dropping_reported = None, False
        stats = self.stats
        self._emit("info", f"MQTT broker {self.endpoint} reachable again after {time.monotonic() - since:.1f} s; "
                   f"sending {_n(stats.buffered, 'buffered message')}, {stats.dropped - dropped_before} dropped "
                   "during the outage")

    def _report_dropping(self) -> None:
        stats = self.stats
        if self._outage is not None and stats.dropped > self._outage[1] and not self._dropping_reported:
            self._dropping_reported = True
            self._emit("alarm", f"MQTT broker {self.endpoint} still not reachable and the telemetry buffer is full "
                       f"({self.options.buffer_messages} messages): the oldest units_inspected/parameter_changes "
                       f"messages are being dropped ({stats.dropped} so far)")

    def _buffer_note(self) -> str:
        stats = self.stats
        return (f"telemetry buffered ({_n(stats.buffered, 'message')}, up to {self.options.buffer_messages}), "
                f"{stats.dropped} dropped")

    def _emit(self, level: str, message: str) -> None:
        (log.warning if level == "alarm" else log.info)("%s", message)
        if self._event is not None:
            try:
                self._event(level, ALARM_KIND, message)
            except Exception:  # reporting must not kill the thread that reconnects
                log.exception("could not report MQTT telemetry event")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def create(options: Options, *, state: TelemetryState, station: str = "station", event: EventSink | None = None,
           **_: Any) -> MqttTelemetry:
    return MqttTelemetry(options, state, station, event)
