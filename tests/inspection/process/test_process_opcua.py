"""The process port over OPC UA against the twin served on 127.0.0.1, and the closed loop through
rendered images, the recipe judge and the OPC UA client; telemetry served as OPC UA nodes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.sync import Client

from inspection.adapters.registry import create_adapter
from inspection.domain.judge import Judge
from inspection.domain.recipe import Recipe
from inspection.domain.types import Inspection
from inspection.errors import OutputError
from inspection.people.opcua_access import ClientSecurity
from inspection.process import ProcessError, WriteRejected
from inspection.process.config import default_controller_config
from inspection.process.controller import Controller
from inspection.process.opcua_client import OpcUaProcess, Options
from inspection.process.store import ProcessLog
from inspection.runtime.feedback import ProcessFeedback
from inspection.simulation.closed_loop import two_proportion_z
from inspection.simulation.twin import ProcessTwin
from inspection.simulation.twin_line import TwinLine
from inspection.simulation.twin_server import NAMESPACE, TwinServer
from inspection.telemetry import TelemetryServer, TelemetryState

INSECURE = ClientSecurity.insecure()  # the twin server on loopback offers SecurityPolicy None only

pytestmark = pytest.mark.plc
PARTS = 400  # per run in the rendered closed-loop test
DRIFT = -20.0  # cc/min per 100 parts: a clogging nozzle


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_twin() -> ProcessTwin:
    return ProcessTwin("paint", seed=21, drift={"fluid_flow_cc_min": DRIFT})


@pytest.fixture(scope="module")
def twin_server() -> Iterator[TwinServer]:
    # One server for the module (starting one takes seconds); each test gets a fresh twin behind it.
    with TwinServer(_fresh_twin(), port=free_port()) as server:
        yield server


@pytest.fixture
def served_twin(twin_server: TwinServer) -> tuple[ProcessTwin, TwinServer]:
    twin_server.twin = _fresh_twin()
    return twin_server.twin, twin_server


def test_port_reads_parameters_setpoints_actuals_and_writes(served_twin) -> None:
    twin, server = served_twin
    options = Options(url=server.endpoint, timeout_s=3.0, security=INSECURE)
    with create_adapter("process", options) as port:
        assert port.process == "paint"
        info = port.parameters()
        assert info["fluid_flow_cc_min"].low == 150.0 and info["fluid_flow_cc_min"].unit == "cc/min"
        assert port.read_setpoints() == twin.read_setpoints()
        assert port.read_actuals() == pytest.approx(twin.read_actuals())
        port.write_setpoints({"fluid_flow_cc_min": 262.5, "robot_speed_mm_s": 410.0})
        assert twin.read_setpoints()["fluid_flow_cc_min"] == 262.5
        assert port.read_setpoints()["robot_speed_mm_s"] == 410.0


def test_a_write_outside_the_published_range_is_refused_before_it_is_sent(served_twin) -> None:
    """The client checks the ranges the server published (a process may not enforce its own)."""
    twin, server = served_twin
    with OpcUaProcess(Options(url=server.endpoint, timeout_s=3.0, security=INSECURE)) as port:
        with pytest.raises(WriteRejected, match=r"fluid_flow_cc_min = 400 cc/min is outside the range the process "
                                                r"publishes \(150\.\.350\); not written"):
            port.write_setpoints({"fluid_flow_cc_min": 400.0})
        with pytest.raises(WriteRejected, match="unknown parameter 'paint_flow'"):
            port.write_setpoints({"paint_flow": 1.0})
        assert twin.read_setpoints()["fluid_flow_cc_min"] == 250.0


def test_a_generic_opcua_client_sees_the_documented_nodes_and_type_checks(served_twin) -> None:
    twin, server = served_twin
    for _ in range(10):
        twin.next_part()
    with Client(server.endpoint, timeout=3) as client:
        ns = client.get_namespace_index(NAMESPACE)
        assert client.get_node(ua.NodeId("Process.Measured.Parts", ns)).read_value() == 10
        measured = twin.measured()
        assert client.get_node(ua.NodeId("Process.Measured.DefectRate", ns)).read_value() == measured["defect_rate"]
        assert client.get_node(ua.NodeId("Process.Measured.ClassRates.run", ns)).read_value() == \
            measured["class_rates"]["run"]
        assert client.get_node(ua.NodeId("Process.Parameters.robot_speed_mm_s.Unit", ns)).read_value() == "mm/s"
        node = client.get_node(ua.NodeId("Process.Parameters.booth_humidity_pct.Setpoint", ns))
        node.write_value(ua.DataValue(ua.Variant(60.0, ua.VariantType.Double)))
        assert twin.read_setpoints()["booth_humidity_pct"] == 60.0
        with pytest.raises(ua.uaerrors.BadTypeMismatch):
            node.write_value(ua.DataValue(ua.Variant("wet", ua.VariantType.String)))
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):  # actuals are measured, not written
            client.get_node(ua.NodeId("Process.Parameters.booth_humidity_pct.Actual", ns)).write_value(
                ua.DataValue(ua.Variant(1.0, ua.VariantType.Double)))


def test_unreachable_server_is_a_clear_error_within_the_timeout() -> None:
    port = OpcUaProcess(Options(url=f"opc.tcp://127.0.0.1:{free_port()}/twin/", timeout_s=1.0))
    with pytest.raises(ProcessError, match="is the process server running"):
        port.open()
    with pytest.raises(ProcessError, match="not connected"):
        port.read_setpoints()


def test_port_in_use_is_a_clear_error(served_twin) -> None:
    _, server = served_twin
    with pytest.raises(OutputError, match="is the port already in use"), \
            TwinServer(ProcessTwin("solder"), port=server.port):
        pass


def _run_line(twin: ProcessTwin, parts: int, feedback: ProcessFeedback | None, limits) -> tuple[list[bool], int]:
    """Make, render and judge `parts` parts; returns per-part rejects and the index of the first change."""
    line = TwinLine(twin, size=(96, 96))
    judge = Judge(Recipe(name="paint-panel"))
    rejects = []
    for _ in range(parts):
        made = line.next()
        judgement = judge.judge(made.labels)
        inspection = Inspection(made.frame, made.labels, judgement.verdict, judgement.defects, recipe="paint-panel",
                                model_id="labels")
        rejects.append(judgement.verdict.status.rejects)
        if feedback is not None:
            feedback(inspection)
        for name, value in twin.read_setpoints().items():
            if name in limits:
                assert limits[name].min <= value <= limits[name].max
    first = min((p.part_index for p in feedback.proposals if p.status == "applied"), default=parts) if feedback \
        else parts
    return rejects, first


@pytest.mark.slow
def test_closed_loop_through_rendered_images_and_opcua_beats_open_loop(served_twin, tmp_path: Path) -> None:
    twin, server = served_twin
    config = default_controller_config("paint", mode="auto", min_samples=40)
    open_rejects, _ = _run_line(_fresh_twin(), PARTS, None, config.parameters)
    state = TelemetryState(twin.classes)
    with OpcUaProcess(Options(url=server.endpoint, timeout_s=3.0, security=INSECURE)) as port, \
            ProcessLog(tmp_path / "station.db") as log, TelemetryServer(state, port=free_port()) as telemetry:
        controller = Controller(config, port, sink=log, classes=twin.classes).start()
        feedback = ProcessFeedback(controller, port, state)
        closed_rejects, first = _run_line(twin, PARTS, feedback, config.parameters)
        history = log.history("paint")
        state.alarm("camera", "camera cam0 lost")
        _check_telemetry_nodes(telemetry, state)
    assert first < 200
    n = PARTS - first
    z, p_value = two_proportion_z(sum(open_rejects[first:]), n, sum(closed_rejects[first:]), n)
    assert p_value < 0.001, (z, sum(open_rejects[first:]), sum(closed_rejects[first:]))
    assert twin.read_setpoints()["fluid_flow_cc_min"] > 260.0  # it pushed against the clogging nozzle
    # The parameters in force were read over OPC UA for every part and stored beside its verdict.
    assert len(history) == PARTS
    assert history[-1][0]["fluid_flow_cc_min"] == pytest.approx(
        twin.read_setpoints()["fluid_flow_cc_min"] + DRIFT * (PARTS - 1) / 100, abs=4 * 0.15 * 20)
    assert state.parts == PARTS and len(state.changes) == sum(p.status == "applied" for p in feedback.proposals)
    message = json.loads(state.last_message)
    assert message["MessageName"] == "CFX.Production.TestAndInspection.UnitsInspected"


def _check_telemetry_nodes(server: TelemetryServer, state: TelemetryState) -> None:
    with Client(server.endpoint, timeout=3) as client:
        ns = client.get_namespace_index("urn:inspection-station:telemetry")

        def read(path: str):
            return client.get_node(ua.NodeId(path, ns)).read_value()

        assert read("Station.Parts") == PARTS
        assert read("Station.Counts.PASS") + read("Station.Counts.FAIL") == PARTS
        assert read("Station.YieldPct") == pytest.approx(state.yield_pct)
        assert read("Station.ClassRates.thin_coverage") == pytest.approx(state.class_rate("thin_coverage"))
        assert json.loads(read("Station.Alarms")) == {"camera": "camera cam0 lost"}
        assert read("Station.ParameterChanges") == len(state.changes) > 0
        last = json.loads(read("Station.LastParameterChange"))
        assert last["status"] == "applied" and last["changes"][0]["after"] != last["changes"][0]["before"]
        cfx = json.loads(read("Station.LastUnitsInspected"))
        assert cfx["MessageBody"]["InspectedUnits"][0]["UnitIdentifier"] == f"paint-{PARTS - 1:06d}"


def test_engineer_commands_approve_reject_revert_recorded_proposals_over_opcua(served_twin, tmp_path: Path,
                                                                               monkeypatch) -> None:
    from click.testing import CliRunner

    from inspection.cli import station
    from inspection.domain.types import VerdictStatus
    from inspection.process.controller import PartResult

    twin, server = served_twin
    db = tmp_path / "station.db"
    config = default_controller_config("paint", mode="advise", min_samples=30)
    with OpcUaProcess(Options(url=server.endpoint, timeout_s=3.0, security=INSECURE)) as port, ProcessLog(db) as log:
        controller = Controller(config, port, sink=log, classes=twin.classes).start()
        made = []
        for i in range(60):  # thin coverage on every third panel: proposals to raise the flow
            hit = frozenset({"thin_coverage"}) if i % 3 == 0 else frozenset()
            made.append(controller.observe(PartResult(i, hit, VerdictStatus.FAIL if hit else VerdictStatus.PASS,
                                                      "m", twin.read_actuals(), f"p{i}")))
    made = [p for p in made if p is not None]
    assert len(made) == 2 and twin.read_setpoints()["fluid_flow_cc_min"] == 250.0
    from inspection.domain.permissions import Role
    from inspection.people.accounts import Accounts
    from inspection.records.store import Store

    with Store(db) as store:  # the CLI decides as a logged-in account, role-checked and audited
        accounts = Accounts(store)
        admin = accounts.create("admin", Role.ADMIN, "admin-secret")
        accounts.create("qe.anna", Role.ENGINEER, "anna-secret", by=admin)
        accounts.create("qe.bob", Role.ENGINEER, "bob-secret", by=admin)
    monkeypatch.setenv("STATION_USER", "qe.anna")
    monkeypatch.setenv("STATION_PASSWORD", "anna-secret")

    def cli(*args: str) -> str:
        result = CliRunner().invoke(station, ["controller", *args, "--db", str(db)])
        assert result.exit_code == 0, result.output
        return result.output

    assert "#2    pending" in cli("proposals", "--status", "pending")
    flow = next(c for c in made[1].changes if c.parameter == "fluid_flow_cc_min")
    out = cli("approve", "2", "--process", "paint", "--url", server.endpoint, "--insecure")
    assert out.startswith("#2 applied by qe.anna")
    assert twin.read_setpoints()["fluid_flow_cc_min"] == pytest.approx(flow.after) and flow.after > 250.0
    assert "#3 reverts #2" in cli("revert", "2", "--process", "paint", "--url", server.endpoint, "--insecure")
    assert twin.read_setpoints()["fluid_flow_cc_min"] == pytest.approx(250.0)
    listing = cli("proposals")
    assert "#1    superseded" in listing and "#2    reverted" in listing and "#3    applied    revert" in listing
    monkeypatch.setenv("STATION_USER", "qe.bob")
    monkeypatch.setenv("STATION_PASSWORD", "bob-secret")
    again = CliRunner().invoke(station, ["controller", "reject", "2", "--process", "paint", "--db", str(db)])
    assert again.exit_code == 5 and "proposal #2 is reverted, only pending ones can be rejected" in again.output
    estimate = cli("sensitivity", "--process", "paint")
    assert estimate.startswith("60 parts of paint history") and "thin_coverage" in estimate
