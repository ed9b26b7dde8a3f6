"""Telemetry for MES/SCADA: IPC-CFX `UnitsInspected`-shaped JSON per board, and an OPC UA view of
counts, yield, per-class rates, alarms and parameter changes.

The CFX messages follow the CFX SDK's schema (`cfx.py`): `UnitsInspected` per part on `units_inspected`;
`WorkStarted`/`WorkCompleted` around it and `FaultOccurred`/`FaultCleared` per alarm on `cfx`.
Transports observe a `TelemetryState` (`subscribe`): the MQTT one (`inspection.telemetry.mqtt`) publishes each
change on its topic; the OPC UA server here serves the current values (see docs/process_control.md).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asyncua import Server

from inspection.aio.opcua_server import CallbackServer
from inspection.domain.counts import yield_pct, zero_counts
from inspection.domain.types import Inspection, VerdictStatus
from inspection.process.controller import Proposal
from inspection.telemetry import cfx
from inspection.telemetry.cfx import CFX_RESULTS

__all__ = ["CFX_RESULTS", "TELEMETRY_NAMESPACE", "TELEMETRY_TOPICS", "TelemetryFeed", "TelemetryServer",
           "TelemetryState", "units_inspected"]

log = logging.getLogger(__name__)

TELEMETRY_NAMESPACE = "urn:inspection-station:telemetry"
TELEMETRY_TOPICS = ("units_inspected", "counts", "alarms", "parameter_changes", "cfx", "health", "health_warnings")
"""What a `TelemetryState` observer is told about (the MQTT topic names under the station's prefix)."""
Observer = Callable[[str, Any], None]


def units_inspected(inspection: Inspection, source: str = "inspection-station", method: str = "AOI",
                    embed_images: bool = False, image_uri: str | None = None,
                    process_parameters: Mapping[str, float] | None = None) -> dict[str, Any]:
    """One IPC-CFX `CFX.Production.TestAndInspection.UnitsInspected` message for one part (see `cfx.py`)."""
    return cfx.units_inspected(inspection, source, method, embed_images, image_uri, process_parameters)


class TelemetryState:
    """Counts, yield, per-class rates (recent window), alarms and parameter changes. Thread-safe.

    Observers (`subscribe`) are called with (topic, payload) for every change, under the state's lock so
    they see changes in order; they must only queue the payload (no I/O, never call back into the state).
    """

    def __init__(self, classes: Sequence[str], window: int = 200, source: str = "inspection-station") -> None:
        self.classes = tuple(classes)
        self.source = source  # the CFX `Source` of messages built for this state
        self._observers: list[Observer] = []
        self._lock = threading.Lock()
        self.counts = zero_counts()
        self._recent: deque[frozenset[str]] = deque(maxlen=window)
        self.alarms: dict[str, str] = {}
        self._faults: dict[str, str] = {}  # alarm kind → CFX FaultOccurrenceId while active
        self.changes: list[dict[str, Any]] = []
        self.last_message = ""
        # The audit chain head (`{"id", "row_hash"}`), published with the counts so a copy off the box can
        # prove the audit log (`station audit verify --head ID:HASH`); set by the station.
        self.audit_head: Callable[[], dict[str, Any] | None] | None = None
        self.health: dict[str, Any] = {}  # the health monitor's snapshot (inspection.health)
        self.health_warnings = 0

    def set_health(self, snapshot: Mapping[str, Any]) -> None:
        with self._lock:
            self.health = dict(snapshot)
            self._notify("health", self.health)

    def health_warning(self, record: Mapping[str, Any]) -> None:
        with self._lock:
            self.health_warnings += 1
            self._notify("health_warnings", dict(record))

    def update(self, inspection: Inspection, message: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self.counts[inspection.verdict.status.value] += 1
            if inspection.verdict.status is not VerdictStatus.ERROR:
                self._recent.append(frozenset(d.class_name for d in inspection.defects))
            if message is not None:
                self.last_message = json.dumps(message)
                self._notify_work(inspection, message)
            if self._observers:  # the rates cost a pass over the window: only when someone listens
                self._notify("counts", self._counts_payload())

    def alarm(self, kind: str, message: str) -> None:
        with self._lock:
            if self.alarms.get(kind) != message:
                if kind not in self.alarms:  # a new fault; a changed message is the same occurrence
                    self._faults[kind] = str(uuid.uuid4())
                    if self._observers:
                        self._notify("cfx", cfx.fault_occurred(kind, message, self._faults[kind], time.time(),
                                                               self.source))
                self.alarms[kind] = message
                self._notify("alarms", dict(self.alarms))

    def clear_alarm(self, kind: str) -> None:
        with self._lock:
            if self.alarms.pop(kind, None) is not None:
                occurrence = self._faults.pop(kind, None)
                if occurrence is not None and self._observers:
                    self._notify("cfx", cfx.fault_cleared(occurrence, time.time(), self.source))
                self._notify("alarms", dict(self.alarms))

    def _notify_work(self, inspection: Inspection, message: Mapping[str, Any]) -> None:
        """WorkStarted, UnitsInspected, WorkCompleted: one work cycle per part, one TransactionID."""
        if not self._observers:
            return
        frame = inspection.frame
        transaction = message["MessageBody"]["TransactionId"]
        done = frame.timestamp_s + inspection.timings.latency_ms / 1000.0
        self._notify("cfx", cfx.work_started(frame.key, transaction, frame.timestamp_s, self.source))
        self._notify("units_inspected", message)
        self._notify("cfx", cfx.work_completed(frame.key, transaction, inspection.verdict.status, done,
                                               self.source))

    def change(self, proposal: Proposal) -> None:
        with self._lock:
            record = proposal.as_record()
            self.changes.append(record)
            self._notify("parameter_changes", record)

    def subscribe(self, observer: Observer) -> None:
        with self._lock:
            self._observers.append(observer)

    def unsubscribe(self, observer: Observer) -> None:
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def _notify(self, topic: str, payload: Any) -> None:
        for observer in self._observers:
            try:
                observer(topic, payload)
            except Exception:  # a transport must never fail the station thread that updated the state
                log.exception("telemetry observer failed on %s", topic)

    def _counts_payload(self) -> dict[str, Any]:
        n = len(self._recent)
        rates = {c: (sum(c in r for r in self._recent) / n if n else 0.0) for c in self.classes}
        payload = {"counts": dict(self.counts),
                   "yield_pct": None if (share := yield_pct(self.counts)) is None else round(share, 3),
                   "class_rates": {c: round(r, 4) for c, r in rates.items()}}
        if self.audit_head is not None:
            payload["audit_head"] = self.audit_head()
        return payload

    def counts_payload(self) -> dict[str, Any]:
        """The `counts` topic: `{"counts": {"PASS": n, …}, "yield_pct": x, "class_rates": {…}}`."""
        with self._lock:
            return self._counts_payload()

    @property
    def parts(self) -> int:
        return sum(self.counts.values())

    @property
    def yield_pct(self) -> float | None:
        return yield_pct(self.counts)

    def class_rate(self, cls: str) -> float:
        with self._lock:
            n = len(self._recent)
            return sum(cls in r for r in self._recent) / n if n else 0.0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"counts": dict(self.counts), "alarms": dict(self.alarms), "changes": len(self.changes),
                    "last_change": self.changes[-1] if self.changes else None}


class TelemetryFeed:
    """Station listener/recorder hook without process feedback: each Inspection → CFX message + counts."""

    def __init__(self, state: TelemetryState) -> None:
        self.state = state

    def __call__(self, inspection: Inspection, *_: object) -> None:
        self.state.update(inspection, units_inspected(inspection, source=self.state.source))


class TelemetryServer(CallbackServer):
    """OPC UA view of a TelemetryState (namespace `urn:inspection-station:telemetry`).

    Station.Counts.{PASS,FAIL,ERROR,REVIEW} Int64, Station.Parts Int64, Station.YieldPct Double,
    Station.ClassRates.<class> Double, Station.Alarms String (JSON object kind → message),
    Station.AlarmCount Int64, Station.ParameterChanges Int64, Station.LastParameterChange String (JSON),
    Station.LastUnitsInspected String (the last CFX message), Station.Health.State String (ok, warning,
    alarm, learning), Station.Health.Warnings Int64, Station.Health.Signals String (JSON, see docs/health.md).
    """

    def __init__(self, state: TelemetryState, host: str = "127.0.0.1", port: int = 4851,
                 timeout_s: float = 15.0, security: Any = None, db_path: Any = None) -> None:
        # Read-only: no node is writable, so a secured server refuses every write and call.
        super().__init__("station telemetry", TELEMETRY_NAMESPACE, host, port, "station", timeout_s, security, db_path)
        self.state = state

    async def build(self, server: Server) -> None:
        st = self.state
        root = await self.add_object(server.nodes.objects, "Station", "Station")
        counts = await self.add_object(root, "Station.Counts", "Counts")
        for status in VerdictStatus:
            await self.add_variable(server, counts, f"Station.Counts.{status.value}", status.value, int,
                                    lambda s=status.value: st.counts[s])
        await self.add_variable(server, root, "Station.Parts", "Parts", int, lambda: st.parts)
        await self.add_variable(server, root, "Station.YieldPct", "YieldPct", float,
                                lambda: math.nan if st.yield_pct is None else st.yield_pct)  # NaN: no part yet
        rates = await self.add_object(root, "Station.ClassRates", "ClassRates")
        for cls in st.classes:
            await self.add_variable(server, rates, f"Station.ClassRates.{cls}", cls, float,
                                    lambda c=cls: st.class_rate(c))
        await self.add_variable(server, root, "Station.Alarms", "Alarms", str,
                                lambda: json.dumps(st.snapshot()["alarms"]))
        await self.add_variable(server, root, "Station.AlarmCount", "AlarmCount", int, lambda: len(st.alarms))
        await self.add_variable(server, root, "Station.ParameterChanges", "ParameterChanges", int,
                                lambda: len(st.changes))
        await self.add_variable(server, root, "Station.LastParameterChange", "LastParameterChange", str,
                                lambda: json.dumps(st.snapshot()["last_change"]))
        await self.add_variable(server, root, "Station.LastUnitsInspected", "LastUnitsInspected", str,
                                lambda: st.last_message)
        health = await self.add_object(root, "Station.Health", "Health")
        await self.add_variable(server, health, "Station.Health.State", "State", str,
                                lambda: str(st.health.get("state", "learning")))
        await self.add_variable(server, health, "Station.Health.Warnings", "Warnings", int, lambda: st.health_warnings)
        await self.add_variable(server, health, "Station.Health.Signals", "Signals", str,
                                lambda: json.dumps(st.health.get("signals", {})))
