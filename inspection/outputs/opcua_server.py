"""The station as an OPC UA server, for MES/SCADA: its state, its recipe and its results.

Modelled on OPC 40100-1 (OPC UA for Machine Vision) where it fits, without claiming conformance: the
address space mirrors the spec's building blocks with plain variables a SCADA can browse and subscribe to.

```
Objects/
  VisionSystem                          (ns = urn:inspection-station)
    VisionStateMachine/CurrentState     String: Preoperational | Initialized | Ready |
                                        ContinuousExecution | Error | Halted
    RecipeManagement/ActiveRecipe       String (recipe name), ActiveJobNumber Int32, LotName String
    RecipeManagement/SelectRecipe()     method (JobNumber Int32, LotName String) -> Accepted Boolean
    ResultManagement/LastResult/        ResultId, PartId, Verdict (String), ResultState (Int32, PLC result
                                        code), IsFailSafe, Defects (String), ProcessingTimeMs (Double),
                                        RecipeId, ModelId, CreationTime (DateTime)
    Statistics/                         Parts, Passed, Failed, Errors, Reviews (Int64), YieldPercent (Double)
  Events: ResultReadyEventType (ResultId, PartId, Verdict, ResultState) fired per result, as 40100-1 does.
```

Secured by default (`security:`, see inspection.security.opcua and docs/security.md): encrypted policies
only, station accounts or X.509 users, SelectRecipe for engineers (`remote_job_change`), every call audited;
all result and state variables are read-only.

`publish()` never waits for the server: it hands the newest result to the server's loop and returns
(results arriving faster than the loop can serve them are coalesced, counted in `coalesced`). It also
works as a station output (`kind: opcua_server`), or as a `Station.listeners` entry beside a PLC output.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from inspection.aio.opcua_server import CallbackServer
from inspection.config import AdapterOptions
from inspection.domain.counts import yield_pct, zero_counts
from inspection.domain.types import Inspection
from inspection.errors import DataError, OutputError
from inspection.outputs.newest import NewestResult
from inspection.outputs.signal_map import ResultCodes
from inspection.people.opcua_access import ServerSecurity
from inspection.security.inputs import check_lot, one_line

__all__ = ["NAMESPACE", "STATES", "Options", "StationServer", "create"]

log = logging.getLogger(__name__)

NAMESPACE = "urn:inspection-station"
STATES = ("Preoperational", "Initialized", "Ready", "ContinuousExecution", "Error", "Halted")
RecipeListener = Callable[[int, str], None]


class Options(AdapterOptions):
    kind: Literal["opcua_server"] = "opcua_server"
    host: str = Field("127.0.0.1", description="0.0.0.0 to serve every interface")
    port: int = Field(4841, ge=1, le=65535)
    name: str = Field("inspection-station", min_length=1)
    start_timeout_s: float = Field(15.0, gt=0.0)
    result_codes: ResultCodes = ResultCodes()
    security: ServerSecurity = Field(ServerSecurity(), description="encryption, users, role checks (docs/security.md)")


class StationServer(CallbackServer):
    """The station's OPC UA server (a `CallbackServer`: own event-loop thread). open()/close() or a context
    manager."""

    def __init__(self, options: Options, db_path: Path | None = None) -> None:
        # accounts and audit log in db_path (unless security.accounts_db names another)
        super().__init__(options.name, NAMESPACE, options.host, options.port, timeout_s=options.start_timeout_s,
                         security=options.security, db_path=db_path,
                         app_uri=f"urn:inspection-station:{options.name}")
        self.calls["VisionSystem.SelectRecipe"] = "remote_job_change"
        self.options = options
        self.db_path = db_path
        self.url = self.endpoint
        self.recipe_listeners: list[RecipeListener] = []
        self.counts = zero_counts()
        self._nodes: dict[str, Any] = {}
        self._types: dict[str, Any] = {}
        self._event: Any = None
        self._newest = NewestResult()  # results waiting for the server's loop (newest wins)

    # --- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        logging.getLogger("asyncua").setLevel(logging.WARNING)
        self.start()
        self.set_state("Ready")

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> StationServer:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def build(self, server: Any) -> None:
        from asyncua import ua

        idx = self.ns
        vision = await server.nodes.objects.add_object(idx, "VisionSystem")
        state = await vision.add_object(idx, "VisionStateMachine")
        recipes = await vision.add_object(idx, "RecipeManagement")
        results = await vision.add_object(idx, "ResultManagement")
        last = await results.add_object(idx, "LastResult")
        stats = await vision.add_object(idx, "Statistics")
        V = ua.VariantType
        layout: list[tuple[Any, str, Any, Any]] = [
            (state, "CurrentState", "Preoperational", V.String),
            (recipes, "ActiveRecipe", "", V.String), (recipes, "ActiveJobNumber", 0, V.Int32),
            (recipes, "LotName", "", V.String),
            (last, "ResultId", "", V.String), (last, "PartId", "", V.String), (last, "Verdict", "", V.String),
            (last, "ResultState", 0, V.Int32), (last, "IsFailSafe", False, V.Boolean),
            (last, "Defects", "", V.String), (last, "ProcessingTimeMs", 0.0, V.Double),
            (last, "RecipeId", "", V.String), (last, "ModelId", "", V.String),
            (last, "CreationTime", dt.datetime.now(dt.UTC), V.DateTime),
            *[(stats, n, 0, V.Int64) for n in ("Parts", "Passed", "Failed", "Errors", "Reviews")],
            (stats, "YieldPercent", 0.0, V.Double),
        ]
        for parent, name, value, vtype in layout:
            self._nodes[name] = await parent.add_variable(ua.NodeId(f"VisionSystem.{name}", idx), name,
                                                          ua.Variant(value, vtype))
            self._types[name] = vtype
        await recipes.add_method(ua.NodeId("VisionSystem.SelectRecipe", idx), "SelectRecipe", self._select_recipe,
                                 [V.Int32, V.String], [V.Boolean])
        etype = await server.create_custom_event_type(
            idx, "ResultReadyEventType", ua.ObjectIds.BaseEventType,
            [("ResultId", V.String), ("PartId", V.String), ("Verdict", V.String), ("ResultState", V.Int32)])
        self._event = await server.get_event_generator(etype, vision)

    # --- writes from the station -----------------------------------------------------------------

    def _submit(self, coro: Any) -> None:
        if not self.running:
            coro.close()
            raise OutputError(f"OPC UA server {self.url} is not running")
        self.spawn(coro)

    def set_state(self, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"state: expected one of {', '.join(STATES)}, got {state!r}")
        self._submit(self._write({"CurrentState": state}))

    def set_recipe(self, name: str, job_number: int = 0, lot_name: str = "") -> None:
        self._submit(self._write({"ActiveRecipe": name, "ActiveJobNumber": job_number, "LotName": lot_name}))

    def publish(self, inspection: Inspection) -> None:
        """Serve this result (never waits; the newest result wins when the server falls behind)."""
        if not self.running:
            raise OutputError(f"OPC UA server {self.url} is not running; result for part {inspection.frame.key} "
                              f"not served")
        self.counts[inspection.verdict.status.value] += 1
        if self._newest.offer(inspection):
            self._submit(self._newest.drain(self._serve, self.url))

    __call__ = publish  # usable directly as a Station listener

    @property
    def coalesced(self) -> int:
        """Results replaced by a newer one before the server's loop got to them."""
        return self._newest.coalesced

    async def _serve(self, inspection: Inspection) -> None:
        verdict, frame = inspection.verdict, inspection.frame
        state = self.options.result_codes.for_status(verdict.status)
        parts = sum(self.counts.values())
        result_id = f"{frame.camera_id}#{frame.sequence}"
        await self._write({
            "ResultId": result_id, "PartId": frame.key, "Verdict": verdict.status.value, "ResultState": state,
            "IsFailSafe": verdict.failsafe, "Defects": ", ".join(d.class_name for d in inspection.defects),
            "ProcessingTimeMs": float(inspection.timings.latency_ms), "RecipeId": inspection.recipe,
            "ModelId": inspection.model_id, "CreationTime": dt.datetime.fromtimestamp(frame.timestamp_s, dt.UTC),
            "Parts": parts, "Passed": self.counts["PASS"], "Failed": self.counts["FAIL"],
            "Errors": self.counts["ERROR"], "Reviews": self.counts["REVIEW"],
            "YieldPercent": math.nan if (share := yield_pct(self.counts)) is None else share,
        })
        event = self._event.event
        event.ResultId, event.PartId = result_id, frame.key
        event.Verdict, event.ResultState = verdict.status.value, state
        await self._event.trigger(message=f"{frame.key}: {verdict.summary}")

    async def _write(self, values: dict[str, Any]) -> None:
        from asyncua import ua

        for name, value in values.items():
            await self._nodes[name].write_value(ua.Variant(value, self._types[name]))

    async def _select_recipe(self, _parent: Any, *arguments: Any) -> Any:
        """SelectRecipe(Int32 job, String lot): exactly those types (a Boolean or a Double is not a job
        number) and a lot name of at most 64 plain characters; anything else is BadInvalidArgument for the
        client, one log line here."""
        from asyncua import ua

        V = ua.VariantType
        integers = (V.SByte, V.Byte, V.Int16, V.UInt16, V.Int32, V.UInt32, V.Int64, V.UInt64)
        if (len(arguments) != 2 or arguments[0].VariantType not in integers or arguments[0].is_array
                or arguments[1].VariantType not in (V.String, V.Null) or arguments[1].is_array):
            log.error("SelectRecipe refused: expected (Int32 job, String lot), got %s",
                      ", ".join(f"{a.VariantType.name}{'[]' if a.is_array else ''}" for a in arguments)[:200])
            return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
        job_number, lot_name = int(arguments[0].Value), str(arguments[1].Value or "")
        try:
            check_lot(lot_name)
        except DataError as exc:
            log.error("SelectRecipe(%d) refused: %s", job_number, exc)
            return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
        recipe = None
        try:
            for listener in self.recipe_listeners:
                recipe = listener(job_number, lot_name) or recipe
        except Exception as exc:
            log.error("SelectRecipe(%d, %s) refused: %s", job_number, one_line(repr(lot_name[:80])), exc)
            return [ua.Variant(False, V.Boolean)]
        values: dict[str, Any] = {"ActiveJobNumber": job_number, "LotName": lot_name}
        if getattr(recipe, "name", None):
            values["ActiveRecipe"] = recipe.name
        await self._write(values)
        return [ua.Variant(True, V.Boolean)]


def create(options: Options, db_path: Path | None = None, *, job_change: Callable[..., object] | None = None,
           **_: object) -> StationServer:
    server = StationServer(options, db_path)
    if job_change is not None:  # as the station's output, SelectRecipe switches the station's recipe
        server.recipe_listeners.append(lambda job, lot: job_change(job, lot or None))
    return server
