"""The station as an OPC 40100-1 (OPC UA for Machine Vision) server, built from the official NodeSet.

The address space is not hand-made: `Opc.Ua.MachineVision.NodeSet2.xml` (../shared/standards/opcua, or
`nodeset:` in the options) is imported with asyncua, its DataTypes loaded, and one `VisionSystemType`
instance is created with its mandatory `VisionStateMachine` and the optional `RecipeManagement` and
`ResultManagement` (browse names in the MachineVision namespace, as the standard names them):

```
Objects/VisionSystem  (VisionSystemType, ns http://opcfoundation.org/UA/MachineVision)
  VisionStateMachine/CurrentState   Preoperational → Operational (first result) ; Error ; Halted
  RecipeManagement/PrepareRecipe(ExternalId: RecipeIdExternalDataType, InternalIdIn) →
        (InternalIdOut: RecipeIdInternalDataType, IsCompleted, Error)
  ResultManagement/Results/LastResult  (ResultType: ResultId, ResultState, PartId, InternalRecipeId,
        JobId, CreationTime, IsPartial, …) + ResultReadyEventType per result
```

`PrepareRecipe` is the station's real recipe switch: `ExternalId.Id` is the PLC job number of the station
YAML's `jobs:` (the same `Station.change_job` a PLC job change calls; a recipe that needs another model is
refused). The switch happens between parts, never mid-part. `IsCompleted` True and `Error` 0 when the
recipe is active; IsCompleted False and `Error` 1 with the reason logged when refused.

Kept beside `opcua_server.py` (the look-alike server, unchanged) so both can be chosen: `kind:
opcua_vision` as the station's output, or `VisionServer(options, job_change=…)` as a listener.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from inspection.aio.loop import LoopThread
from inspection.config import AdapterOptions, ConfigPath
from inspection.domain.recipe import Recipe
from inspection.domain.types import Inspection, VerdictStatus
from inspection.errors import ConfigError, OutputError
from inspection.outputs.newest import NewestResult
from inspection.outputs.signal_map import ResultCodes

__all__ = ["MV_NAMESPACE", "NAMESPACE", "Options", "VisionServer", "create", "default_nodeset"]

log = logging.getLogger(__name__)

MV_NAMESPACE = "http://opcfoundation.org/UA/MachineVision"
NAMESPACE = "urn:inspection-station:vision"
# NodeIds in the MachineVision namespace (Opc.Ua.MachineVision.NodeIds.csv)
VISION_SYSTEM_TYPE, RECIPE_MANAGEMENT_TYPE, RESULT_MANAGEMENT_TYPE = 1003, 1004, 1007
RESULT_TYPE, RESULT_READY_EVENT_TYPE = 2002, 1024
STATE_IDS = {"Preoperational": 5028, "Halted": 5029, "Error": 5030, "Operational": 5031}
JobChange = Callable[[int, str | None], Recipe]


def default_nodeset() -> Path:
    """The normative NodeSet copy beside the repository (../shared/standards/opcua)."""
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "standards" / "opcua" / \
        "Opc.Ua.MachineVision.NodeSet2.xml"


class Options(AdapterOptions):
    kind: Literal["opcua_vision"] = "opcua_vision"
    host: str = Field("127.0.0.1", description="0.0.0.0 to serve every interface")
    port: int = Field(4843, ge=1, le=65535)
    name: str = Field("inspection-station", min_length=1)
    nodeset: ConfigPath | None = Field(None, description="Opc.Ua.MachineVision.NodeSet2.xml; default the copy in "
                                       "../shared/standards/opcua")
    start_timeout_s: float = Field(30.0, gt=0.0, description="import of the NodeSet and server start")
    result_codes: ResultCodes = ResultCodes()


class VisionServer:
    """An asyncua Server on its own event-loop thread serving one VisionSystemType instance."""

    def __init__(self, options: Options, job_change: JobChange | None = None) -> None:
        self.options = options
        self.url = f"opc.tcp://{options.host}:{options.port}/"
        self.job_change = job_change
        self.recipe = ""
        self.job = 0
        self._loop: LoopThread | None = None
        self._server: Any = None
        self._mv = 0
        self._nodes: dict[str, Any] = {}
        self._event: Any = None
        self._newest = NewestResult()  # results waiting for the server's loop (newest wins)

    # --- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        nodeset = self.options.nodeset or default_nodeset()
        if not Path(nodeset).is_file():
            raise ConfigError(f"output opcua_vision: nodeset: {nodeset} not found; give the path of "
                              "Opc.Ua.MachineVision.NodeSet2.xml")
        self._loop = LoopThread("opcua-vision-server")
        try:
            self._loop.run(self._start(Path(nodeset)), self.options.start_timeout_s)
        except Exception as exc:
            self.close()
            raise OutputError(f"cannot start the OPC 40100 server on {self.url}: {exc}; is the port in use?") from None

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._server is not None:
            try:
                loop.run(self._server.stop(), 5.0)
            except Exception as exc:
                log.debug("stopping the OPC 40100 server: %s", exc)
            self._server = None
        loop.stop()

    def __enter__(self) -> VisionServer:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _start(self, nodeset: Path) -> None:
        from asyncua import Server, ua
        from asyncua.common.instantiate_util import instantiate

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name(self.options.name)
        await server.import_xml(str(nodeset))
        await server.load_data_type_definitions()
        mv = self._mv = await server.get_namespace_index(MV_NAMESPACE)
        idx = await server.register_namespace(NAMESPACE)

        def nid(path: str) -> Any:
            return ua.NodeId(f"VisionSystem.{path}" if path else "VisionSystem", idx)

        system = await server.nodes.objects.add_object(nid(""), ua.QualifiedName("VisionSystem", mv),
                                                       objecttype=ua.NodeId(VISION_SYSTEM_TYPE, mv),
                                                       instantiate_optional=False)
        recipes = await system.add_object(nid("RecipeManagement"), ua.QualifiedName("RecipeManagement", mv),
                                          objecttype=ua.NodeId(RECIPE_MANAGEMENT_TYPE, mv), instantiate_optional=False)
        results = await system.add_object(nid("ResultManagement"), ua.QualifiedName("ResultManagement", mv),
                                          objecttype=ua.NodeId(RESULT_MANAGEMENT_TYPE, mv), instantiate_optional=False)
        folder = await results.add_folder(nid("ResultManagement.Results"), ua.QualifiedName("Results", mv))
        created = await instantiate(folder, server.get_node(ua.NodeId(RESULT_TYPE, mv)),
                                    nodeid=nid("ResultManagement.Results.LastResult"),
                                    bname=ua.QualifiedName("LastResult", idx), instantiate_optional=True)
        last = server.get_node(created[0])  # the variable first, then what was made under it
        for name in ("ResultId", "ResultState", "PartId", "InternalRecipeId", "JobId", "CreationTime", "IsPartial"):
            with contextlib.suppress(ua.UaError):  # an optional member the variable type did not instantiate
                self._nodes[name] = await last.get_child(f"{mv}:{name}")
        machine = await system.get_child(f"{mv}:VisionStateMachine")
        self._nodes["CurrentState"] = await machine.get_child("0:CurrentState")
        self._nodes["CurrentState.Id"] = await self._nodes["CurrentState"].get_child("0:Id")
        prepare = await recipes.get_child(f"{mv}:PrepareRecipe")
        server.link_method(prepare, self._prepare_recipe)
        self._event = await server.get_event_generator(ua.NodeId(RESULT_READY_EVENT_TYPE, mv), results)
        await server.start()
        self._server = server
        await self._set_state("Preoperational")

    # --- state and recipe ------------------------------------------------------------------------

    async def _set_state(self, state: str) -> None:
        from asyncua import ua

        await self._nodes["CurrentState"].write_value(ua.LocalizedText(state, "en"))
        await self._nodes["CurrentState.Id"].write_value(ua.Variant(ua.NodeId(STATE_IDS[state], self._mv),
                                                                    ua.VariantType.NodeId))

    def set_state(self, state: Literal["Preoperational", "Operational", "Error", "Halted"]) -> None:
        if state not in STATE_IDS:
            raise ValueError(f"state: expected one of {', '.join(STATE_IDS)}, got {state!r}")
        self._submit(self._set_state(state))

    async def _prepare_recipe(self, _parent: Any, external: Any, _internal: Any = None) -> list[Any]:
        from asyncua import ua

        value = getattr(external, "Value", external)
        wanted = str(getattr(value, "Id", value) or "").strip()
        internal = ua.RecipeIdInternalDataType()
        try:
            if not (wanted.isascii() and wanted.isdigit()):
                raise ConfigError(f"ExternalId.Id {wanted!r}: expected a job number of the station's `jobs:`")
            if self.job_change is None:
                raise ConfigError("this station takes no recipe changes (no job switch wired)")
            recipe = self.job_change(int(wanted), None)
        except Exception as exc:  # refused: the station keeps its recipe, the client learns it did not happen
            log.error("PrepareRecipe(%r) refused: %s", wanted, exc)
            return [ua.Variant(internal, ua.VariantType.ExtensionObject), ua.Variant(False, ua.VariantType.Boolean),
                    ua.Variant(1, ua.VariantType.Int32)]
        self.recipe, self.job = recipe.name, int(wanted)
        internal.Id = recipe.name
        return [ua.Variant(internal, ua.VariantType.ExtensionObject), ua.Variant(True, ua.VariantType.Boolean),
                ua.Variant(0, ua.VariantType.Int32)]

    # --- results -----------------------------------------------------------------------------------

    def _submit(self, coro: Any) -> None:
        loop = self._loop
        if loop is None:
            coro.close()
            raise OutputError(f"OPC 40100 server {self.url} is not running")
        loop.loop.call_soon_threadsafe(lambda: loop.loop.create_task(coro))

    def publish(self, inspection: Inspection) -> None:
        """Serve this result (never waits; the newest result wins when the server falls behind)."""
        if self._loop is None:
            raise OutputError(f"OPC 40100 server {self.url} is not running; result for part "
                              f"{inspection.frame.key} not served")
        if self._newest.offer(inspection):
            self._submit(self._newest.drain(self._serve, self.url))

    __call__ = publish  # usable directly as a Station listener

    @property
    def coalesced(self) -> int:
        """Results replaced by a newer one before the server's loop got to them."""
        return self._newest.coalesced

    async def _serve(self, inspection: Inspection) -> None:
        from asyncua import ua

        verdict, frame = inspection.verdict, inspection.frame
        state = self.options.result_codes.for_status(verdict.status)
        result_id = f"{frame.camera_id}#{frame.sequence}"
        created = dt.datetime.fromtimestamp(frame.timestamp_s, dt.UTC)
        recipe = inspection.recipe or self.recipe
        internal = ua.RecipeIdInternalDataType()
        internal.Id = recipe
        values = {"ResultId": (result_id, ua.VariantType.String), "ResultState": (state, ua.VariantType.Int32),
                  "PartId": (frame.key, ua.VariantType.String), "JobId": (str(self.job), ua.VariantType.String),
                  "CreationTime": (created, ua.VariantType.DateTime), "IsPartial": (False, ua.VariantType.Boolean),
                  "InternalRecipeId": (internal, ua.VariantType.ExtensionObject)}
        for name, (value, vtype) in values.items():
            if name in self._nodes:
                await self._nodes[name].write_value(ua.Variant(value, vtype))
        if verdict.status is not VerdictStatus.ERROR:
            await self._set_state("Operational")
        event = self._event.event
        for name, (value, _) in values.items():
            if hasattr(event, name):
                setattr(event, name, value)
        await self._event.trigger(message=f"{frame.key}: {verdict.summary}")


def create(options: Options, *, job_change: JobChange | None = None, **_: object) -> VisionServer:
    return VisionServer(options, job_change=job_change)
