"""OPC UA reject output against a real asyncua server, and the station's own OPC UA server."""

from __future__ import annotations

import asyncio

import pytest

from inspection.errors import OutputError
from inspection.outputs import opcua
from inspection.outputs.opcua_server import NAMESPACE, StationServer
from inspection.outputs.opcua_server import Options as ServerOptions
from inspection.outputs.plc_sim import free_port
from inspection.outputs.signal_map import default_map
from inspection.people.opcua_access import ClientSecurity

INSECURE = ClientSecurity.insecure()  # the PLC simulator offers SecurityPolicy None only

pytestmark = pytest.mark.plc


def _output(sim, fast: dict, **extra: object):
    return opcua.create(opcua.Options(port=sim.port, security=INSECURE,
                                      **{**fast, "timeout_s": 1.0, "connect_timeout_s": 3.0, **extra}))


def test_verdicts_are_written_to_the_nodes(opcua_plc, fast, inspection, wait_until) -> None:
    with _output(opcua_plc, fast) as out:
        assert out.connected, out.last_error
        out.publish(inspection(1, "FAIL", part_id="8080", classes=("scratch",), class_ids=(3,)))
        plc = opcua_plc.snapshot()
        assert plc["outputs.reject"] is True and plc["outputs.result_valid"] is True
        assert (plc["outputs.part_id"], plc["outputs.result_code"], plc["outputs.defect_bits"]) == (8080, 2, 0b1000)
        opcua_plc.write("inputs.part_id", 77)
        opcua_plc.write("inputs.trigger", True)
        assert wait_until(lambda: opcua_plc.read("outputs.trigger_ack"))
        out.publish(inspection(2))
        assert opcua_plc.read("outputs.part_id") == 77 and opcua_plc.read("outputs.reject") is False
        opcua_plc.write("inputs.result_ack", True)
        assert wait_until(lambda: opcua_plc.read("outputs.result_valid") is False)
        opcua_plc.write("inputs.trigger", False)
        opcua_plc.write("inputs.result_ack", False)


def test_missing_node_names_signal_and_node(opcua_plc, fast, inspection) -> None:
    smap = default_map("opcua").model_dump()
    smap["outputs"]["fault"] = "ns=2;s=Station.Status.NoSuchNode"
    with _output(opcua_plc, fast, signals=smap) as out:
        assert not out.connected
        assert "outputs.fault (ns=2;s=Station.Status.NoSuchNode)" in out.last_error
        assert "node not readable" in out.last_error
        with pytest.raises(OutputError, match="NoSuchNode"):
            out.publish(inspection(1))


def test_node_of_the_wrong_type_names_signal_node_and_types(opcua_plc, fast) -> None:
    smap = default_map("opcua").model_dump()
    smap["outputs"]["reject"] = "ns=2;s=Station.Result.Code"  # an Int32 node
    with _output(opcua_plc, fast, signals=smap) as out:
        assert not out.connected
        assert "outputs.reject (ns=2;s=Station.Result.Code) has data type Int32" in out.last_error
        assert "needs Boolean" in out.last_error


def test_refused_connection_is_clear_and_does_not_hang(fast, inspection) -> None:
    port = free_port()
    with opcua.create(opcua.Options(port=port, security=INSECURE, **fast)) as out:
        assert not out.connected and f"opc.tcp://127.0.0.1:{port}/" in out.last_error
        with pytest.raises(OutputError, match="not delivered"):
            out.publish(inspection(1, "FAIL"))


def test_server_restart_mid_run_fails_safe_and_resumes(opcua_plc, fast, inspection, wait_until) -> None:
    with _output(opcua_plc, fast) as out:
        out.publish(inspection(1, part_id="1"))
        opcua_plc.stop()
        missed = 0
        for seq in range(2, 5):
            try:
                out.publish(inspection(seq, "FAIL", part_id=str(seq)))
            except OutputError:
                missed += 1
        assert wait_until(lambda: not out.connected) and "plc_connection_lost" in out.stats.alarms
        assert missed >= 2 and out.stats.undelivered == missed
        opcua_plc.start()
        assert wait_until(lambda: out.connected, timeout_s=15.0)
        out.publish(inspection(5, "FAIL", part_id="5"))
        assert opcua_plc.read("outputs.part_id") == 5 and opcua_plc.read("outputs.reject") is True
        assert wait_until(lambda: opcua_plc.read("outputs.undelivered_count") == missed)


def test_station_serves_state_results_and_recipe_selection(inspection, wait_until) -> None:
    from asyncua import Client, ua

    server = StationServer(ServerOptions(port=free_port(), security={"allow_insecure": True}))
    chosen: list[tuple[int, str]] = []
    server.recipe_listeners.append(lambda job, lot: chosen.append((job, lot)))

    async def read(names: list[str]) -> dict[str, object]:
        async with Client(server.url, timeout=5) as client:
            idx = await client.get_namespace_index(NAMESPACE)
            return {n: await client.get_node(ua.NodeId(f"VisionSystem.{n}", idx)).read_value() for n in names}

    async def select(job: int, lot: str) -> bool:
        async with Client(server.url, timeout=5) as client:
            idx = await client.get_namespace_index(NAMESPACE)
            method = client.get_node(ua.NodeId("VisionSystem.SelectRecipe", idx))
            return await (await method.get_parent()).call_method(method, ua.Variant(job, ua.VariantType.Int32), lot)

    with server:
        server.publish(inspection(1, "FAIL", part_id="B-1", classes=("bridge",)))
        server.publish(inspection(2, part_id="B-2"))
        names = ["CurrentState", "PartId", "Verdict", "ResultState", "Parts", "Failed", "YieldPercent"]
        assert wait_until(lambda: asyncio.run(read(["Parts"]))["Parts"] == 2, timeout_s=10.0)
        values = asyncio.run(read(names))
        assert values == {"CurrentState": "Ready", "PartId": "B-2", "Verdict": "PASS", "ResultState": 1,
                          "Parts": 2, "Failed": 1, "YieldPercent": 50.0}
        assert asyncio.run(select(3, "LOT-9")) is True and chosen == [(3, "LOT-9")]
        assert asyncio.run(read(["ActiveJobNumber"]))["ActiveJobNumber"] == 3
        server.set_state("Error")
        assert wait_until(lambda: asyncio.run(read(["CurrentState"]))["CurrentState"] == "Error")
