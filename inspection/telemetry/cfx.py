"""IPC-2591 Connected Factory Exchange (IPC-CFX) messages, to the CFX SDK's schema (version 2.1).

The SDK's C# classes are the schema (copies in `../shared/standards/cfx/`): property names, nesting and
enum values here are what an SDK-based consumer deserializes. Every message travels in the CFX envelope
(`MessageName` = the full type name, `Version`, `TimeStamp` with a time zone, `UniqueID`, `Source`, …).

- `units_inspected`: `CFX.Production.TestAndInspection.UnitsInspected`, one per part. The whole-part
  inspection is named after the recipe and carries the findings without a component; every reference
  designator the AOI path reported gets its own inspection `INSPECT_<RefDes>` (as in the SDK's AOI
  example) with `ComponentOfInterest.ReferenceDesignator` = `R12` or `R12.2` (component R12, pin 2).
  `ConfidenceLevel` is 1–100 (Defect.cs), `RegionOfInterest` the box outline in image pixels
  (Region: start point + closed list of segments).
- `work_started` / `work_completed`: `CFX.Production.WorkStarted` / `WorkCompleted` around each part.
- `fault_occurred` / `fault_cleared`: `CFX.ResourcePerformance.FaultOccurred` / `FaultCleared` for the
  station's alarms (one `FaultOccurrenceId` per alarm kind while it is active).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from inspection.domain.types import Detection, Frame, Inspection, VerdictStatus

__all__ = ["CFX_RESULTS", "CFX_VERSION", "WORK_RESULTS", "confidence_level", "envelope", "fault_cleared",
           "fault_occurred", "reference_designator", "region", "units_inspected", "work_completed",
           "work_started"]

CFX_VERSION = "2.1"  # CFXEnvelope.CFXVERSION of the SDK copy in ../shared/standards/cfx
UNITS_INSPECTED = "CFX.Production.TestAndInspection.UnitsInspected"
# TestResult.cs: Passed, Failed, Error, Aborted, Skipped. A part the station could not inspect is an
# Error (never Passed); a part held for a person's review is rejected by the line, so Failed.
CFX_RESULTS = {VerdictStatus.PASS: "Passed", VerdictStatus.FAIL: "Failed", VerdictStatus.ERROR: "Error",
               VerdictStatus.REVIEW: "Failed"}
# WorkResult of WorkCompleted: the work cycle ran (Completed) or could not (Failed).
WORK_RESULTS = {VerdictStatus.PASS: "Completed", VerdictStatus.FAIL: "Completed", VerdictStatus.REVIEW: "Completed",
                VerdictStatus.ERROR: "Failed"}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def _uid(seed: str | None) -> str:
    """A GUID; deterministic from `seed` (a retry of the same message keeps its identity)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed)) if seed else str(uuid.uuid4())


def envelope(message_name: str, body: Mapping[str, Any], *, source: str, timestamp_s: float,
             unique_id: str | None = None) -> dict[str, Any]:
    """The CFX envelope (CFXEnvelope.cs) around one message body."""
    return {"MessageName": message_name, "Version": CFX_VERSION, "TimeStamp": _iso(timestamp_s),
            "UniqueID": unique_id or str(uuid.uuid4()), "Source": source, "Target": None, "RequestID": None,
            "MessageBody": dict(body)}


def confidence_level(confidence: float) -> float:
    """Detection confidence 0..1 → CFX `ConfidenceLevel`, documented as a number from 1 to 100."""
    return round(min(100.0, max(1.0, 100.0 * float(confidence))), 1)


def reference_designator(detection: Detection) -> str | None:
    """`R12`, or `R12.2` for pin 2 (ComponentDesignator.cs: dot-delimited component and pin)."""
    refdes = detection.attributes.get("refdes")
    if not refdes:
        return None
    pin = detection.attributes.get("pin")
    return f"{refdes}.{pin}" if pin else refdes


def region(detection: Detection) -> dict[str, Any]:
    """Region.cs: the outline (segmentation polygon, else the box) in image pixels, closed."""
    if detection.polygon is not None:
        points = [(float(x), float(y)) for x, y in detection.polygon]
    else:
        b = detection.box
        points = [(float(b.x1), float(b.y1)), (float(b.x2), float(b.y1)), (float(b.x2), float(b.y2)),
                  (float(b.x1), float(b.y2))]
    x0, y0 = points[0]
    segments = [{"X": round(x, 2), "Y": round(y, 2)} for x, y in [*points[1:], points[0]]]
    return {"StartPointX": round(x0, 2), "StartPointY": round(y0, 2), "RegionSegments": segments}


def _defect(detection: Detection, uid: str, frame: Any, embed_images: bool) -> dict[str, Any]:
    designator = reference_designator(detection)
    where = f" on {designator}" if designator else ""
    images = []
    if embed_images and isinstance(frame, Frame):
        images.append(_crop_png(frame.image, detection.box.as_tuple()))
    return {
        "UniqueIdentifier": uid,
        "DefectCode": detection.class_name,
        "DefectCategory": detection.attributes.get("check") or detection.source,
        "Description": f"{detection.class_name}{where} ({100 * detection.confidence:.0f}%)",
        "Comments": None,
        "ComponentOfInterest": {"ReferenceDesignator": designator, "UnitPosition": None,
                                "PartNumber": detection.attributes.get("part_number")},
        "RegionOfInterest": region(detection),
        "DefectImages": images,
        "Priority": 1,
        "ConfidenceLevel": confidence_level(detection.confidence),
        "RelatedMeasurements": [],
        "RelatedSymptoms": [],
    }


def _crop_png(image: np.ndarray, box: tuple[float, float, float, float], pad: int = 8) -> dict[str, Any]:
    """Image.cs: in-band PNG (ImageData is a byte[]: base64 in JSON)."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box[0]) - pad), max(0, int(box[1]) - pad)
    x2, y2 = min(w, int(box[2]) + pad + 1), min(h, int(box[3]) + pad + 1)
    ok, data = cv2.imencode(".png", image[y1:y2, x1:x2])
    return {"MimeType": "image/png", "TransferMode": "InBand",
            "ImageData": base64.b64encode(data.tobytes()).decode() if ok else None, "ImageURL": None}


def _inspection(uid: str, name: str, start: str, end: str, procedure: str, result: str,
                defects: list[dict[str, Any]], comments: str | None = None, error: str | None = None
                ) -> dict[str, Any]:
    return {"UniqueIdentifier": uid, "InspectionName": name, "InspectionStartTime": start,
            "InspectionEndTime": end, "TestProcedure": procedure, "Comments": comments, "Result": result,
            "Error": error, "DefectsFound": defects, "Symptoms": None, "Measurements": []}


def units_inspected(inspection: Inspection, source: str = "inspection-station", method: str = "AOI",
                    embed_images: bool = False, image_uri: str | None = None,
                    process_parameters: Mapping[str, float] | None = None,
                    transaction_id: str | None = None) -> dict[str, Any]:
    """`CFX.Production.TestAndInspection.UnitsInspected` for one part, in its envelope.

    Only the defects the recipe counted are reported (the rest were below its thresholds). With
    `image_uri`, the whole-part image is referenced out of band as an extra `DefectImages` entry of the
    first defect (UnitsInspected has no image field of its own). `process_parameters` is a station
    extension (`InspectedUnits[0].ProcessParameters`) that SDK consumers ignore.
    """
    frame, verdict = inspection.frame, inspection.verdict
    ts = frame.timestamp_s
    start, end = _iso(ts), _iso(ts + inspection.timings.latency_ms / 1000.0)
    key = f"{source}/{frame.key}/{ts!r}"
    procedure = inspection.model_id or None
    by_refdes: dict[str, list[dict[str, Any]]] = {}
    whole_part: list[dict[str, Any]] = []
    for i, d in enumerate(inspection.defects):
        defect = _defect(d, _uid(f"{key}/defect/{i}"), frame, embed_images)
        refdes = d.attributes.get("refdes")
        (by_refdes.setdefault(refdes, []) if refdes else whole_part).append(defect)
    reasons = "; ".join(r.message for r in verdict.reasons) or None
    error = reasons if verdict.status is VerdictStatus.ERROR else None
    if verdict.status is VerdictStatus.ERROR or not by_refdes:
        part_result = CFX_RESULTS[verdict.status]
    else:
        part_result = "Failed" if whole_part else "Passed"
    inspections = [_inspection(_uid(f"{key}/inspection"), inspection.recipe or "inspection", start, end, procedure,
                               part_result, whole_part, reasons, error)]
    for refdes in sorted(by_refdes):
        inspections.append(_inspection(_uid(f"{key}/inspection/{refdes}"), f"INSPECT_{refdes}", start, end,
                                       procedure, "Failed", by_refdes[refdes]))
    if image_uri and inspections[0]["DefectsFound"]:
        inspections[0]["DefectsFound"][0]["DefectImages"].append(
            {"MimeType": "image/png", "TransferMode": "OutOfBand", "ImageData": None, "ImageURL": image_uri})
    unit: dict[str, Any] = {"UnitIdentifier": frame.key, "UnitPositionNumber": 1,
                            "OverallResult": CFX_RESULTS[verdict.status], "Inspections": inspections}
    if process_parameters is not None:
        unit["ProcessParameters"] = dict(process_parameters)
    body = {"TransactionId": transaction_id or _uid(f"{key}/transaction"), "InspectionMethod": method,
            "SamplingInformation": {"SamplingMethod": "NoSampling", "LotSize": None, "SampleSize": None},
            "Inspector": None, "RecipeName": inspection.recipe or None, "RecipeRevision": None,
            "InspectedUnits": [unit]}
    return envelope(UNITS_INSPECTED, body, source=source, timestamp_s=ts + inspection.timings.latency_ms / 1000.0)


def _units(unit_id: str) -> list[dict[str, Any]]:
    """UnitPosition: one part per work cycle."""
    return [{"UnitIdentifier": unit_id, "PositionNumber": 1, "PositionName": None, "X": None, "Y": None,
             "Rotation": None, "FlipX": None, "FlipY": None}]


def work_started(unit_id: str, transaction_id: str, timestamp_s: float, source: str, lane: int = 1
                 ) -> dict[str, Any]:
    """`CFX.Production.WorkStarted`: the station began inspecting a part (the trigger)."""
    body = {"TransactionID": transaction_id, "Lane": lane, "PrimaryIdentifier": unit_id, "HermesIdentifier": None,
            "UnitCount": 1, "Units": _units(unit_id)}
    return envelope("CFX.Production.WorkStarted", body, source=source, timestamp_s=timestamp_s)


def work_completed(unit_id: str, transaction_id: str, status: VerdictStatus, timestamp_s: float, source: str
                   ) -> dict[str, Any]:
    """`CFX.Production.WorkCompleted` with the same TransactionID as its WorkStarted."""
    body = {"TransactionID": transaction_id, "Result": WORK_RESULTS[status], "PrimaryIdentifier": unit_id,
            "HermesIdentifier": None, "UnitCount": 1, "Units": _units(unit_id), "PerformanceImpacts": []}
    return envelope("CFX.Production.WorkCompleted", body, source=source, timestamp_s=timestamp_s)


def fault_occurred(kind: str, message: str, occurrence_id: str, timestamp_s: float, source: str,
                   cause: str = "MechanicalFailure", severity: str = "Error") -> dict[str, Any]:
    """`CFX.ResourcePerformance.FaultOccurred` for an alarm; `FaultCode` is the alarm kind."""
    fault = {"Cause": cause, "Severity": severity, "FaultCode": kind, "FaultOccurrenceId": occurrence_id,
             "Lane": None, "Stage": None, "SideLocation": "Unknown", "AccessType": "Unknown",
             "Description": message[:1024], "DescriptionTranslations": {}, "Created": _iso(timestamp_s),
             "DueDateTime": None}
    return envelope("CFX.ResourcePerformance.FaultOccurred", {"Fault": fault}, source=source,
                    timestamp_s=timestamp_s)


def fault_cleared(occurrence_id: str, timestamp_s: float, source: str) -> dict[str, Any]:
    """`CFX.ResourcePerformance.FaultCleared`: the alarm with this FaultOccurrenceId is gone."""
    return envelope("CFX.ResourcePerformance.FaultCleared", {"FaultOccurrenceId": occurrence_id, "Operator": None},
                    source=source, timestamp_s=timestamp_s)
