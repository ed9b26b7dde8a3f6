"""OPC 40100-1 server from the official NodeSet, browsed by a plain asyncua client by the standard's browse
names; PrepareRecipe switches the real station's recipe (the same switch as a PLC job change)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.sync import Client

from inspection.config import load_station_config
from inspection.errors import ConfigError
from inspection.outputs.opcua_vision import MV_NAMESPACE, Options, VisionServer, default_nodeset
from inspection.runtime.pipeline import Station

pytestmark = [pytest.mark.plc, pytest.mark.skipif(not default_nodeset().is_file(),
                                                  reason=f"the OPC 40100 NodeSet is not at {default_nodeset()}")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def vision_station(tmp_path: Path, station_yaml: Path, tiny_model: Path) -> Path:
    (tmp_path / "recipe_b.yaml").write_text(f"name: board-b\nmodel: {tiny_model}\ndeadline_ms: 60000\n",
                                            encoding="utf-8")
    port = free_port()
    with station_yaml.open("a", encoding="utf-8") as f:
        f.write(f"output:\n  kind: opcua_vision\n  port: {port}\n  start_timeout_s: 120\njobs:\n  2: recipe_b.yaml\n")
    return station_yaml


def test_the_vision_system_is_the_standard_model_and_prepare_recipe_switches_the_station(
        vision_station: Path) -> None:
    config = load_station_config(vision_station)
    with Station(config) as station:
        server = station.output
        assert isinstance(server, VisionServer)
        with Client(server.url, timeout=30) as client:
            mv = client.get_namespace_index(MV_NAMESPACE)
            client.load_data_type_definitions()
            system = client.nodes.objects.get_child(f"{mv}:VisionSystem")
            assert system.read_type_definition() == ua.NodeId(1003, mv)  # VisionSystemType from the NodeSet
            machine = system.get_child(f"{mv}:VisionStateMachine")
            assert machine.read_type_definition() == ua.NodeId(1017, mv)  # VisionStateMachineType
            state = machine.get_child("0:CurrentState")
            assert state.read_value().Text == "Preoperational"
            assert state.get_child("0:Id").read_value() == ua.NodeId(5028, mv)
            recipes = system.get_child(f"{mv}:RecipeManagement")
            assert recipes.read_type_definition() == ua.NodeId(1004, mv)
            results = system.get_child(f"{mv}:ResultManagement")
            assert results.read_type_definition() == ua.NodeId(1007, mv)
            names = {n.read_browse_name().Name for n in recipes.get_children()}
            assert {"PrepareRecipe", "UnprepareRecipe", "GetRecipeListFiltered"} <= names  # the mandatory ones

            # Job 2 through the standard's method: the station now judges with recipe board-b.
            external = ua.RecipeIdExternalDataType()
            external.Id = "2"
            internal, completed, error = recipes.call_method(f"{mv}:PrepareRecipe", external,
                                                             ua.RecipeIdInternalDataType())
            assert (completed, error, internal.Id) == (True, 0, "board-b")
            assert station.recipe.name == "board-b"
            # An unknown job is refused and the recipe stays.
            external.Id = "7"
            _, completed, error = recipes.call_method(f"{mv}:PrepareRecipe", external, ua.RecipeIdInternalDataType())
            assert (completed, error) == (False, 1) and station.recipe.name == "board-b"

            station.run(max_parts=2)
            folder = results.get_child(f"{mv}:Results")
            (last,) = folder.get_children()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and last.get_child(f"{mv}:PartId").read_value() is None:
                time.sleep(0.1)
            assert last.read_type_definition() == ua.NodeId(2002, mv)  # ResultType
            assert last.get_child(f"{mv}:InternalRecipeId").read_value().Id == "board-b"
            assert last.get_child(f"{mv}:JobId").read_value() == "2"
            assert last.get_child(f"{mv}:ResultState").read_value() in {1, 2, 3}
            assert state.read_value().Text == "Operational"


def test_a_missing_nodeset_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Opc.Ua.MachineVision.NodeSet2.xml"):
        VisionServer(Options(port=free_port(), nodeset=tmp_path / "missing.xml")).open()
