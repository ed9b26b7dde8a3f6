"""Health next to the existing telemetry: the station's listener publishes its snapshot and warnings on
the telemetry state, which a real OPC UA server serves (read back with a real client)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
from asyncua import ua
from asyncua.sync import Client

from inspection.domain.recipe import Recipe
from inspection.domain.types import Frame, Inspection, Verdict
from inspection.health.monitor import HealthConfig, HealthMonitor
from inspection.health.station import HealthListener, open_station_health
from inspection.records.store import Store
from inspection.telemetry import TELEMETRY_TOPICS, TelemetryServer, TelemetryState
from inspection.telemetry.mqtt import RETAINED, TopicQos

pytestmark = pytest.mark.plc

DEMO = Path(__file__).resolve().parents[3] / "inspection" / "demo" / "parts" / "solder"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_health_reaches_opcua_nodes_and_the_mqtt_topics(tmp_path: Path) -> None:
    assert {"health", "health_warnings"} <= set(TELEMETRY_TOPICS) and "health" in RETAINED
    assert TopicQos().health_warnings == 1
    state = TelemetryState(("bridge",))
    seen: list[str] = []
    state.subscribe(lambda topic, payload: seen.append(topic))
    image = cv2.imread(str(sorted(DEMO.glob("*.jpg"))[0]))
    with Store(tmp_path / "station.db") as store:
        listener = open_station_health(store, Recipe(name="r"), state, tmp_path)
        assert isinstance(listener, HealthListener)
        listener.monitor = HealthMonitor(HealthConfig(learn_parts=30), on_warning=listener._warned)
        rng = np.random.default_rng(0)
        for i in range(120):  # the light fails at part 60: brightness halves
            gain = 1.0 if i < 60 else 0.5
            noisy = np.clip(image * gain + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8)
            listener(Inspection(Frame(noisy, "cam0", i, 1000.0 + i), (), Verdict.passed()))
        with TelemetryServer(state, port=_free_port(), timeout_s=60.0) as server, \
                Client(server.endpoint, timeout=10) as client:
            ns = client.get_namespace_index("urn:inspection-station:telemetry")

            def read(path: str):  # type: ignore[no-untyped-def]
                return client.get_node(ua.NodeId(path, ns)).read_value()

            assert read("Station.Health.State") == "alarm"
            assert read("Station.Health.Warnings") == state.health_warnings >= 1
            signals = json.loads(read("Station.Health.Signals"))
            assert signals["brightness"]["state"] in ("warning", "alarm") and signals["brightness"]["kind"] == \
                "health_light"
        assert "health" in seen and "health_warnings" in seen
        events = store.query("select kind, level from events where kind like 'health_%'")
        assert {"kind": "health_light", "level": "warning"} in events
