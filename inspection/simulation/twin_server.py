"""The process twin served over OPC UA (asyncua server, 127.0.0.1 by default, own event-loop thread).

Address space (namespace `urn:inspection-station:process-twin`, string node ids):

    Process                                 object
      Process.Name                          String   "solder" | "paint"
      Process.Parameters.<p>                object per parameter
        Process.Parameters.<p>.Setpoint     Double   read/write; out of Low..High → BadOutOfRange
        Process.Parameters.<p>.Actual       Double   setpoint + drift + noise in force for the next part
        Process.Parameters.<p>.Low/.High/.Nominal/.Scale   Double;  .Unit String
      Process.Measured.Parts                Int64    parts made
      Process.Measured.DefectRate           Double   over the last 100 parts
      Process.Measured.ClassRates.<class>   Double   per class, same window

With `part_period_s` the twin makes a part on its own clock (for `station twin`); without it, whoever
holds the twin object makes the parts (tests, the simulated line).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asyncua import Server, ua

from inspection.aio.opcua_server import CallbackServer
from inspection.process import NAMESPACE, WriteRejected
from inspection.simulation.twin import ProcessTwin

__all__ = ["NAMESPACE", "TwinServer"]

log = logging.getLogger(__name__)


class TwinServer(CallbackServer):
    """Serves one ProcessTwin. `with TwinServer(twin, port=...) as server: server.endpoint`."""

    def __init__(self, twin: ProcessTwin, host: str = "127.0.0.1", port: int = 4850,
                 part_period_s: float | None = None, timeout_s: float = 15.0) -> None:
        super().__init__(f"process twin ({twin.process})", NAMESPACE, host, port, "twin", timeout_s)
        self.twin = twin
        self.part_period_s = part_period_s
        self._clock: asyncio.Task[Any] | None = None

    async def build(self, server: Server) -> None:
        root = await self.add_object(server.nodes.objects, "Process", "Process")
        await self.add_variable(server, root, "Process.Name", "Name", str, lambda: self.twin.process)
        params = await self.add_object(root, "Process.Parameters", "Parameters")
        for name, info in self.twin.parameters().items():
            base = f"Process.Parameters.{name}"
            node = await self.add_object(params, base, name)
            await self.add_variable(server, node, f"{base}.Setpoint", "Setpoint", float,
                                    lambda n=name: self.twin.read_setpoints()[n],
                                    lambda value, n=name: self._write(n, value))
            await self.add_variable(server, node, f"{base}.Actual", "Actual", float,
                                    lambda n=name: self.twin.read_actuals()[n])
            for field in ("low", "high", "nominal", "scale"):
                await self.add_variable(server, node, f"{base}.{field.title()}", field.title(), float,
                                        lambda v=getattr(info, field): v)
            await self.add_variable(server, node, f"{base}.Unit", "Unit", str, lambda u=info.unit: u)
        measured = await self.add_object(root, "Process.Measured", "Measured")
        await self.add_variable(server, measured, "Process.Measured.Parts", "Parts", int, lambda: self.twin.index)
        await self.add_variable(server, measured, "Process.Measured.DefectRate", "DefectRate", float,
                                lambda: self.twin.measured()["defect_rate"])
        rates = await self.add_object(measured, "Process.Measured.ClassRates", "ClassRates")
        for cls in self.twin.classes:
            await self.add_variable(server, rates, f"Process.Measured.ClassRates.{cls}", cls, float,
                                    lambda c=cls: self.twin.measured()["class_rates"][c])
        if self.part_period_s:
            self._clock = asyncio.get_running_loop().create_task(self._run_clock(self.part_period_s))

    def _write(self, name: str, value: float) -> None:
        try:
            self.twin.write_setpoints({name: value})
        except WriteRejected as exc:
            log.info("refused write: %s", exc)
            raise ua.uaerrors.BadOutOfRange() from None

    async def _run_clock(self, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            self.twin.next_part()

    def stop(self) -> None:
        if self._clock is not None and self._loop is not None:
            self._loop.loop.call_soon_threadsafe(self._clock.cancel)
            self._clock = None
        super().stop()
