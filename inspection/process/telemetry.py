"""Telemetry for MES/SCADA: IPC-CFX `UnitsInspected`-shaped JSON per board, and an OPC UA view of
counts, yield, per-class rates, alarms and parameter changes.

The CFX message follows the shape of IPC-2591 `CFX.Production.Assurance.UnitsInspected` (envelope +
MessageBody with InspectedUnits → Inspections → DefectsFound). Transports observe a `TelemetryState`
(`subscribe`): the MQTT one (`telemetry_mqtt.py`) publishes each change on its topic; the OPC UA server
here serves the current values (see docs/process_control.md).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
from asyncua import Server

from inspection.process._opcua import CallbackServer
from inspection.process.controller import Proposal
from inspection.types import Frame, Inspection, VerdictStatus

__all__ = ["CFX_RESULTS", "TELEMETRY_NAMESPACE", "TELEMETRY_TOPICS", "TelemetryFeed", "TelemetryServer",
           "TelemetryState", "units_inspected"]

log = logging.getLogger(__name__)

TELEMETRY_NAMESPACE = "urn:inspection-station:telemetry"
CFX_RESULTS = {VerdictStatus.PASS: "Passed", VerdictStatus.FAIL: "Failed", VerdictStatus.ERROR: "Aborted",
               VerdictStatus.REVIEW: "Indeterminate"}
TELEMETRY_TOPICS = ("units_inspected", "counts", "alarms", "parameter_changes", "health", "health_warnings")
"""What a `TelemetryState` observer is told about (the MQTT topic names under the station's prefix)."""
Observer = Callable[[str, Any], None]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def units_inspected(inspection: Inspection, source: str = "inspection-station", method: str = "AOI",
                    embed_images: bool = False, image_uri: str | None = None,
                    process_parameters: Mapping[str, float] | None = None) -> dict[str, Any]:
    """One IPC-CFX UnitsInspected message for one board/part.

    Defects carry the class as DefectCode, the box centre/size in pixels as the region, the model's
    confidence, and (with `embed_images`) a base64 PNG crop of the defect.
    """
    frame, verdict = inspection.frame, inspection.verdict
    ts = frame.timestamp_s
    end = ts + inspection.timings.latency_ms / 1000.0
    defects = []
    for i, d in enumerate(inspection.defects):
        cx, cy = d.box.center
        defect = {
            "UniqueIdentifier": f"{frame.key}-{i}",
            "DefectCode": d.class_name,
            "DefectCategory": d.source,
            "Description": f"{d.class_name} ({d.confidence:.2f})",
            "ConfidenceLevel": round(float(d.confidence), 4),
            "RegionOfInterest": {"X": round(cx, 1), "Y": round(cy, 1), "SizeX": round(d.box.width, 1),
                                 "SizeY": round(d.box.height, 1), "Units": "px"},
            "ComponentOfInterest": dict(d.attributes) or None,
            "DefectImages": [],
        }
        if embed_images and isinstance(frame, Frame):
            defect["DefectImages"].append(_crop_png(frame.image, d.box.as_tuple()))
        defects.append(defect)
    reasons = "; ".join(r.message for r in verdict.reasons)
    images = [{"MimeType": "image/png", "Uri": image_uri}] if image_uri else []
    body = {
        "TransactionId": str(uuid.uuid4()),
        "InspectionMethod": method,
        "InspectedUnits": [{
            "UnitIdentifier": frame.key,
            "UnitPositionNumber": 1,
            "OverallResult": CFX_RESULTS[verdict.status],
            "Inspections": [{
                "UniqueIdentifier": str(uuid.uuid4()),
                "InspectionName": inspection.recipe or "inspection",
                "InspectionStartTime": _iso(ts),
                "InspectionEndTime": _iso(end),
                "TestProcedure": inspection.model_id,
                "Comments": reasons,
                "Result": CFX_RESULTS[verdict.status],
                "DefectsFound": defects,
                "Images": images,
            }],
        }],
    }
    if process_parameters is not None:
        body["InspectedUnits"][0]["ProcessParameters"] = dict(process_parameters)  # station extension
    return {"MessageName": "CFX.Production.Assurance.UnitsInspected", "Version": "1.7",
            "TimeStamp": _iso(end), "UniqueID": str(uuid.uuid4()), "Source": source, "Target": None,
            "RequestID": None, "MessageBody": body}


def _crop_png(image: np.ndarray, box: tuple[float, float, float, float], pad: int = 8) -> dict[str, str]:
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box[0]) - pad), max(0, int(box[1]) - pad)
    x2, y2 = min(w, int(box[2]) + pad + 1), min(h, int(box[3]) + pad + 1)
    ok, data = cv2.imencode(".png", image[y1:y2, x1:x2])
    return {"MimeType": "image/png", "ImageData": base64.b64encode(data.tobytes()).decode() if ok else ""}


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
        self.counts = {s.value: 0 for s in VerdictStatus}
        self._recent: deque[frozenset[str]] = deque(maxlen=window)
        self.alarms: dict[str, str] = {}
        self.changes: list[dict[str, Any]] = []
        self.last_message = ""
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
                self._notify("units_inspected", message)
            if self._observers:  # the rates cost a pass over the window: only when someone listens
                self._notify("counts", self._counts_payload())

    def alarm(self, kind: str, message: str) -> None:
        with self._lock:
            if self.alarms.get(kind) != message:
                self.alarms[kind] = message
                self._notify("alarms", dict(self.alarms))

    def clear_alarm(self, kind: str) -> None:
        with self._lock:
            if self.alarms.pop(kind, None) is not None:
                self._notify("alarms", dict(self.alarms))

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
        parts = sum(self.counts.values())
        return {"counts": dict(self.counts),
                "yield_pct": round(100.0 * self.counts["PASS"] / parts, 3) if parts else 0.0,
                "class_rates": {c: round(r, 4) for c, r in rates.items()}}

    def counts_payload(self) -> dict[str, Any]:
        """The `counts` topic: `{"counts": {"PASS": n, …}, "yield_pct": x, "class_rates": {…}}`."""
        with self._lock:
            return self._counts_payload()

    @property
    def parts(self) -> int:
        return sum(self.counts.values())

    @property
    def yield_pct(self) -> float:
        return 100.0 * self.counts["PASS"] / self.parts if self.parts else 0.0

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
                 timeout_s: float = 15.0) -> None:
        super().__init__("station telemetry", TELEMETRY_NAMESPACE, host, port, "station", timeout_s)
        self.state = state

    async def build(self, server: Server) -> None:
        st = self.state
        root = await self.add_object(server.nodes.objects, "Station", "Station")
        counts = await self.add_object(root, "Station.Counts", "Counts")
        for status in VerdictStatus:
            await self.add_variable(server, counts, f"Station.Counts.{status.value}", status.value, int,
                                    lambda s=status.value: st.counts[s])
        await self.add_variable(server, root, "Station.Parts", "Parts", int, lambda: st.parts)
        await self.add_variable(server, root, "Station.YieldPct", "YieldPct", float, lambda: st.yield_pct)
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
