"""`station twin`, `station controller …`, the CFX message shape and the station listener."""

from __future__ import annotations

import base64
import json
import socket
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.domain.judge import Judge
from inspection.domain.recipe import Recipe
from inspection.domain.types import Box, Detection, Frame, FrameFailure, Inspection, Verdict
from inspection.process import ProcessError
from inspection.process.config import default_controller_config
from inspection.process.controller import Controller
from inspection.runtime.feedback import ProcessFeedback
from inspection.simulation.twin import ProcessTwin
from inspection.simulation.twin_line import TwinLine
from inspection.simulation.twin_process import InProcessTwin
from inspection.telemetry import TelemetryState, units_inspected


def test_controller_simulate_prints_open_vs_closed_loop() -> None:
    result = CliRunner().invoke(station, ["controller", "simulate", "--process", "solder", "--parts", "2000",
                                          "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["closed_loop"]["defect_rate"] < data["open_loop"]["defect_rate"] / 2
    assert data["p_value"] < 1e-6 and data["closed_loop"]["changes"] > 0
    text = CliRunner().invoke(station, ["controller", "simulate", "--process", "paint", "--parts", "500",
                                        "--algorithm", "pid", "--mode", "advise"])
    assert text.exit_code == 0, text.output
    assert "open loop" in text.output and "closed loop" in text.output and "(advise, pid; 0 changes" in text.output


@pytest.mark.plc
@pytest.mark.slow
def test_controller_simulate_through_opcua_on_rendered_parts() -> None:
    result = CliRunner().invoke(station, ["controller", "simulate", "--process", "paint", "--parts", "150",
                                          "--seed", "21", "--drift", "fluid_flow_cc_min=-40", "--render", "64",
                                          "--through", "opcua", "--mode", "advise", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert data["through"] == "opcua" and data["render"] == 64
    assert data["closed_loop"]["proposals"] >= 1 and data["closed_loop"]["changes"] == 0  # advise: nobody approved
    assert data["final_setpoints"]["fluid_flow_cc_min"] == 250.0


def test_controller_simulate_bad_drift_names_the_parameter() -> None:
    result = CliRunner().invoke(station, ["controller", "simulate", "--drift", "paste=1"])
    assert result.exit_code == 2
    assert "'paste' is not a solder parameter" in result.output


def test_controller_check_reports_a_bad_config_with_exit_code(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("process: solder\nsensitivity: {insufficient: {paste_volume_pct: -0.004}}\n"
                      "parameters: {paste_volume_pct: {min: 105, max: 130, max_step: 5, rate_limit: 12}}\n")
    result = CliRunner().invoke(station, ["controller", "check", "-c", str(config)])
    assert result.exit_code == 2
    assert "limits 105..130 % exclude the value in force (100 %)" in result.output
    ok = CliRunner().invoke(station, ["controller", "check", "--process", "paint"])
    assert ok.exit_code == 0 and ok.output.startswith("ok: 4 parameters")


@pytest.mark.plc
def test_twin_command_serves_and_makes_parts_on_its_clock() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    threads_before = set(threading.enumerate())
    result = CliRunner().invoke(station, ["twin", "--process", "paint", "--port", str(port),
                                          "--drift", "booth_humidity_pct=2", "--part-period-s", "0.01",
                                          "--duration-s", "0.5"])
    assert result.exit_code == 0, result.output
    assert f"opc.tcp://127.0.0.1:{port}/twin/" in result.output
    assert "booth_humidity_pct.Setpoint  55 %RH  (range 30..85, drift +2/100 parts)" in result.output
    parts = int(result.output.rsplit("stopped after ", 1)[1].split()[0])
    assert parts >= 5
    # Clean shutdown: the server's event-loop thread (and its executor) are gone.
    assert [t.name for t in threading.enumerate() if t not in threads_before] == []


def _inspection() -> Inspection:
    image = np.zeros((64, 64, 3), np.uint8)
    image[20:30, 10:40] = 255
    frame = Frame(image, "cam0", 7, 1_700_000_000.0, part_id="PCB-0007")
    d = Detection("bridge", 0.87, Box(10, 20, 40, 30), 0)
    judgement = Judge(Recipe(name="solder-board")).judge((d,))
    return Inspection(frame, (d,), judgement.verdict, judgement.defects, recipe="solder-board", model_id="abc123")


def test_units_inspected_has_the_cfx_shape_with_codes_locations_confidences_images() -> None:
    msg = units_inspected(_inspection(), embed_images=True, image_uri="file:///archive/PCB-0007.png",
                          process_parameters={"paste_volume_pct": 101.0})
    assert msg["MessageName"] == "CFX.Production.TestAndInspection.UnitsInspected"
    unit = msg["MessageBody"]["InspectedUnits"][0]
    assert unit["UnitIdentifier"] == "PCB-0007" and unit["OverallResult"] == "Failed"
    assert unit["ProcessParameters"] == {"paste_volume_pct": 101.0}
    inspection = unit["Inspections"][0]
    assert inspection["TestProcedure"] == "abc123"
    defect = inspection["DefectsFound"][0]
    assert defect["DefectCode"] == "bridge" and defect["ConfidenceLevel"] == 87.0  # CFX: 1..100
    assert defect["RegionOfInterest"]["StartPointX"] == 10.0 and len(defect["RegionOfInterest"]["RegionSegments"]) == 4
    crop = cv2.imdecode(np.frombuffer(base64.b64decode(defect["DefectImages"][0]["ImageData"]), np.uint8),
                        cv2.IMREAD_COLOR)
    assert crop.shape == (27, 47, 3) and crop.max() == 255  # box 10..40 x 20..30 plus 8 px each side
    assert defect["DefectImages"][1] == {"MimeType": "image/png", "TransferMode": "OutOfBand", "ImageData": None,
                                         "ImageURL": "file:///archive/PCB-0007.png"}
    json.dumps(msg)  # serialisable as is


def test_units_inspected_for_a_part_that_could_not_be_inspected_is_an_error_not_passed() -> None:
    failure = FrameFailure("cam0", 3, 1_700_000_000.0, "corrupt", "incomplete buffer")
    msg = units_inspected(Inspection(failure, (), Verdict.error("corrupt", "incomplete buffer")))
    unit = msg["MessageBody"]["InspectedUnits"][0]
    assert unit["OverallResult"] == "Error" and unit["Inspections"][0]["DefectsFound"] == []


class _BrokenPort(InProcessTwin):
    def read_actuals(self) -> dict[str, float]:
        raise ProcessError("opc.tcp://line:4840: read Actual: no answer within 1 s")


def test_listener_freezes_the_controller_when_the_process_port_stops_answering() -> None:
    twin = ProcessTwin("paint", seed=1, setpoints={"fluid_flow_cc_min": 185.0})
    port = _BrokenPort(twin)
    controller = Controller(default_controller_config("paint", mode="auto", min_samples=20), port,
                            classes=twin.classes).start()
    state = TelemetryState(twin.classes)
    feedback = ProcessFeedback(controller, port, state)
    line, judge = TwinLine(twin, size=(64, 64)), Judge(Recipe(name="paint"))
    for _ in range(60):
        made = line.next()
        j = judge.judge(made.labels)
        feedback(Inspection(made.frame, made.labels, j.verdict, j.defects, model_id="m"))
    assert controller.doubt == "alarm: process port"
    assert feedback.proposals and all(p.status == "pending" for p in feedback.proposals)
    assert twin.read_setpoints()["fluid_flow_cc_min"] == 185.0
    assert state.parts == 60 and state.counts["FAIL"] > 10
