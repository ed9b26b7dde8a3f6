"""IPC-CFX messages against the CFX SDK itself (../shared/standards/cfx): the C# classes give the property
names and enum values, the JSON examples in their doc comments are the golden files."""

from __future__ import annotations

import base64
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from inspection.domain.judge import Judge
from inspection.domain.recipe import ClassRule, Recipe
from inspection.domain.types import Box, Detection, Frame, FrameFailure, Inspection, Verdict, VerdictStatus
from inspection.telemetry import TelemetryState, cfx

SDK = Path(__file__).resolve().parents[3] / ".." / "shared" / "standards" / "cfx"
pytestmark = pytest.mark.skipif(not SDK.is_dir(), reason=f"the CFX SDK copy is not at {SDK}")


@cache
def properties(cls: str) -> frozenset[str]:
    """Public property names of a C# class of the SDK (the JSON member names)."""
    text = (SDK / f"{cls}.cs").read_text(encoding="utf-8-sig")
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    names = re.findall(r"public\s+(?!class\b|enum\b|const\b|static\b|override\b)[\w<>?,\[\]]+\s+(\w+)\s*(?:\{|\n)",
                       text)
    return frozenset(n for n in names if n != cls)


@cache
def enum_values(enum: str) -> frozenset[str]:
    text = (SDK / f"{enum}.cs").read_text(encoding="utf-8-sig")
    body = text[text.index(f"enum {enum}"):]
    body = body[body.index("{") + 1:body.index("}")]
    body = "\n".join(line for line in body.splitlines() if not line.strip().startswith(("//", "[")))
    return frozenset(re.findall(r"\b([A-Z]\w*)\b", body))


def sdk_examples(cls: str) -> list[dict[str, Any]]:
    """The JSON examples of a class's doc comment (`<code language="none">` blocks)."""
    text = (SDK / f"{cls}.cs").read_text(encoding="utf-8-sig")
    blocks = re.findall(r'<code language="none">(.*?)</code>', text, flags=re.S)
    out = []
    for block in blocks:
        lines = [re.sub(r"^\s*///\s?", "", line) for line in block.splitlines()]
        out.append(json.loads("\n".join(lines)))
    return out


# Which SDK class each member of a UnitsInspected message is (the schema tree to walk).
CHILDREN = {
    "UnitsInspected": {"InspectedUnits": "InspectedUnit", "SamplingInformation": "SamplingInformation",
                       "Inspector": "Operator"},
    "InspectedUnit": {"Inspections": "Inspection"},
    "Inspection": {"DefectsFound": "Defect"},
    "Defect": {"ComponentOfInterest": "ComponentDesignator", "RegionOfInterest": "Region", "DefectImages": "Image"},
}
EXTENSIONS = {"InspectedUnit": {"ProcessParameters"}}  # station extension, ignored by SDK consumers


def walk(obj: Any, cls: str, seen: dict[str, list[dict[str, Any]]]) -> None:
    """Check every object's members against its SDK class; collect objects per class."""
    if obj is None:
        return
    if isinstance(obj, list):
        for item in obj:
            walk(item, cls, seen)
        return
    assert isinstance(obj, dict), f"{cls}: expected an object, got {obj!r}"
    members = set(obj) - {"$type"}
    unknown = members - properties(cls) - EXTENSIONS.get(cls, set())
    assert not unknown, f"{cls} has no properties {sorted(unknown)} (SDK: {sorted(properties(cls))})"
    seen.setdefault(cls, []).append(obj)
    for name, child in CHILDREN.get(cls, {}).items():
        if name in obj:
            walk(obj[name], child, seen)


def aoi_example() -> dict[str, Any]:
    return next(e for e in sdk_examples("UnitsInspected") if e["InspectionMethod"] == "AOI")


def test_the_schema_reader_accepts_the_sdk_examples_themselves() -> None:
    examples = sdk_examples("UnitsInspected")
    assert len(examples) >= 2 and properties("Defect") >= {"ConfidenceLevel", "ComponentOfInterest"}
    for example in examples:
        walk(example, "UnitsInspected", {})
    with pytest.raises(AssertionError, match="no properties"):
        walk({"DefectCode": "x", "X": 1.0}, "Defect", {})  # the old shape's region members are caught


def _board() -> Inspection:
    image = np.zeros((80, 80, 3), np.uint8)
    image[20:30, 10:40] = 255
    frame = Frame(image, "cam0", 7, 1_700_000_000.0, part_id="PANEL34543535")
    detections = (
        Detection("insufficient", 0.93, Box(10, 20, 40, 30), 0, source="aoi",
                  attributes={"refdes": "R22", "pin": "1", "check": "joints", "package": "0603"}),
        Detection("tombstone", 0.004, Box(50, 50, 60, 60), 1, source="aoi",  # confidence below 1 %
                  attributes={"refdes": "R22", "check": "presence", "package": "0603"}),
        Detection("scratch", 0.61, Box(2.3, 1.6, 5.6, 4.0), 2, source="anomaly"),
    )
    recipe = Recipe(name="board-a", default=ClassRule(min_confidence=0.0))
    judgement = Judge(recipe).judge(detections)
    return Inspection(frame, detections, judgement.verdict, judgement.defects, recipe="board-a", model_id="m1")


def test_units_inspected_matches_the_sdk_schema_and_its_aoi_example() -> None:
    inspection = _board()
    assert len(inspection.defects) == 3, "the recipe must count all three findings for this test"
    msg = cfx.units_inspected(inspection, source="line1.aoi", embed_images=True)
    json.dumps(msg)
    # Envelope: the members and version of CFXEnvelope.cs, the full type name as MessageName.
    envelope_example = sdk_examples("CFXEnvelope")[0]
    assert set(msg) == set(envelope_example)
    version = re.search(r'CFXVERSION = "([\d.]+)"', (SDK / "CFXEnvelope.cs").read_text(encoding="utf-8-sig"))
    assert version and msg["Version"] == version.group(1)
    assert msg["MessageName"] == "CFX.Production.TestAndInspection.UnitsInspected"
    assert "namespace CFX.Production.TestAndInspection" in (SDK / "UnitsInspected.cs").read_text(encoding="utf-8-sig")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", msg["TimeStamp"])  # with a time zone

    seen: dict[str, list[dict[str, Any]]] = {}
    walk(msg["MessageBody"], "UnitsInspected", seen)
    golden: dict[str, list[dict[str, Any]]] = {}
    walk(aoi_example(), "UnitsInspected", golden)
    # Every member the SDK's own serializer writes in its AOI example is there (same shape for consumers).
    for cls in ("UnitsInspected", "InspectedUnit", "Inspection", "Defect", "ComponentDesignator", "Region", "Image"):
        assert cls in seen, f"no {cls} in the message"
        expected = set().union(*(set(o) for o in golden[cls]))
        for obj in seen[cls]:
            assert expected <= set(obj), f"{cls} lacks {sorted(expected - set(obj))}"
    # Enums: only values the SDK defines.
    assert msg["MessageBody"]["InspectionMethod"] in enum_values("InspectionMethod")
    results = {i["Result"] for i in seen["Inspection"]} | {u["OverallResult"] for u in seen["InspectedUnit"]}
    assert results <= enum_values("TestResult")
    # Per-RefDes inspections, named as in the SDK example, with the component designator from the AOI path.
    unit = msg["MessageBody"]["InspectedUnits"][0]
    assert unit["UnitIdentifier"] == "PANEL34543535" and unit["OverallResult"] == "Failed"
    names = [i["InspectionName"] for i in unit["Inspections"]]
    assert names == ["board-a", "INSPECT_R22"]
    r22 = unit["Inspections"][1]
    assert r22["Result"] == "Failed" and r22["TestProcedure"] == "m1"
    designators = sorted(d["ComponentOfInterest"]["ReferenceDesignator"] for d in r22["DefectsFound"])
    assert designators == ["R22", "R22.1"]  # pin 1 of R22 as "R22.1", the SDK's notation
    # Confidence on the standard's 1..100 scale (Defect.cs), never 0..1.
    levels = {d["DefectCode"]: d["ConfidenceLevel"] for d in seen["Defect"]}
    assert levels == {"insufficient": 93.0, "tombstone": 1.0, "scratch": 61.0}
    # The scratch has no component: it sits in the whole-part inspection, located by its region outline.
    scratch = unit["Inspections"][0]["DefectsFound"][0]
    assert scratch["ComponentOfInterest"]["ReferenceDesignator"] is None
    assert scratch["RegionOfInterest"] == {"StartPointX": 2.3, "StartPointY": 1.6, "RegionSegments": [
        {"X": 5.6, "Y": 1.6}, {"X": 5.6, "Y": 4.0}, {"X": 2.3, "Y": 4.0}, {"X": 2.3, "Y": 1.6}]}
    image = next(d for d in seen["Defect"] if d["DefectCode"] == "insufficient")["DefectImages"][0]
    assert image["TransferMode"] in {"InBand"} and image["MimeType"] == "image/png"
    crop = cv2.imdecode(np.frombuffer(base64.b64decode(image["ImageData"]), np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (27, 47, 3) and crop.max() == 255


@pytest.mark.parametrize(("verdict", "result"), [
    (Verdict.error("corrupt", "incomplete buffer"), "Error"),
])
def test_a_part_that_could_not_be_inspected_is_an_error_never_passed(verdict: Verdict, result: str) -> None:
    failure = FrameFailure("cam0", 3, 1_700_000_000.0, "corrupt", "incomplete buffer")
    msg = cfx.units_inspected(Inspection(failure, (), verdict))
    unit = msg["MessageBody"]["InspectedUnits"][0]
    assert unit["OverallResult"] == result and unit["Inspections"][0]["Result"] == result
    assert "incomplete buffer" in unit["Inspections"][0]["Error"]
    walk(msg["MessageBody"], "UnitsInspected", {})


def test_a_retry_of_the_same_part_keeps_its_transaction_and_defect_ids() -> None:
    inspection = _board()
    a, b = cfx.units_inspected(inspection, source="s"), cfx.units_inspected(inspection, source="s")
    assert a["MessageBody"]["TransactionId"] == b["MessageBody"]["TransactionId"]
    assert a["UniqueID"] != b["UniqueID"]  # each transmission is its own message


def test_telemetry_state_brackets_each_part_with_work_messages_and_alarms_with_faults() -> None:
    state = TelemetryState(["scratch"], source="line1.aoi")
    got: list[tuple[str, dict[str, Any]]] = []
    state.subscribe(lambda topic, payload: got.append((topic, payload)) if topic in {"cfx", "units_inspected"}
                    else None)
    inspection = _board()
    state.update(inspection, cfx.units_inspected(inspection, source=state.source))
    names = [p["MessageName"] for _, p in got]
    assert names == ["CFX.Production.WorkStarted", "CFX.Production.TestAndInspection.UnitsInspected",
                     "CFX.Production.WorkCompleted"]
    started, units, completed = (p["MessageBody"] for _, p in got)
    assert started["TransactionID"] == completed["TransactionID"] == units["TransactionId"]
    assert started["PrimaryIdentifier"] == "PANEL34543535" and completed["Result"] == "Completed"
    got.clear()
    state.alarm("camera_lost", "camera cam0 lost")
    state.alarm("camera_lost", "camera cam0 lost (retry 2)")  # same occurrence, no second FaultOccurred
    state.clear_alarm("camera_lost")
    assert [p["MessageName"] for _, p in got] == ["CFX.ResourcePerformance.FaultOccurred",
                                                   "CFX.ResourcePerformance.FaultCleared"]
    fault = got[0][1]["MessageBody"]["Fault"]
    assert fault["FaultCode"] == "camera_lost" and fault["Severity"] == "Error"
    assert got[1][1]["MessageBody"]["FaultOccurrenceId"] == fault["FaultOccurrenceId"]
    assert all(p["Source"] == "line1.aoi" for _, p in got)


def test_work_completed_says_failed_when_the_part_could_not_be_inspected() -> None:
    msg = cfx.work_completed("P1", "t", VerdictStatus.ERROR, 1.0, "s")
    assert msg["MessageBody"]["Result"] == "Failed"
