"""The OPC UA server (asyncua) that stands in for the PLC: `station plc-sim --protocol opcua`, tests, bench.

The adapter module names it as its `simulator` hook; see `inspection.outputs.plc_sim` for the base."""

from __future__ import annotations

import logging
from typing import Any

from inspection.aio.loop import LoopThread
from inspection.outputs.link import Value
from inspection.outputs.plc_sim import PlcSim
from inspection.outputs.signal_map import SignalKind, SignalMap, default_map, signal_kind

log = logging.getLogger(__name__)

__all__ = ["OpcUaSim"]


class OpcUaSim(PlcSim):
    protocol = "opcua"
    NAMESPACE = "urn:inspection-station:plc-sim"

    def __init__(self, smap: SignalMap | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(smap or default_map("opcua"), host, port)
        self._loop: LoopThread | None = None
        self._server: Any = None
        self._nodes: dict[str, Any] = {}
        self._values: dict[str, Value] = {}

    def _vtype(self, name: str) -> Any:
        from asyncua import ua

        kind = signal_kind(name)
        return {SignalKind.BOOL: ua.VariantType.Boolean, SignalKind.INT: ua.VariantType.Int32,
                SignalKind.TEXT: ua.VariantType.String}[kind]

    def _start(self) -> None:
        from asyncua import Server, ua
        from asyncua.common.callback import CallbackType

        self._loop = LoopThread("opcua-sim")
        logging.getLogger("asyncua").setLevel(logging.ERROR)

        async def start() -> Any:
            server = Server()
            await server.init()
            server.set_endpoint(f"opc.tcp://{self.host}:{self.port}/")
            server.set_server_name("inspection-station PLC simulator")
            await server.register_namespace(self.NAMESPACE)
            for name, address in self.smap.signals().items():
                nodeid = ua.NodeId.from_string(address)
                vtype = self._vtype(name)
                default = self._values.get(name, {"Boolean": False, "String": ""}.get(vtype.name, 0))
                node = await server.nodes.objects.add_variable(nodeid, address.split("=")[-1],
                                                               ua.Variant(default, vtype))
                await node.set_writable()
                self._nodes[name] = node
            server.subscribe_server_callback(CallbackType.PostWrite, self._post_write)
            await server.start()
            return server

        self._server = self._loop.run(start(), 15.0)

    async def _post_write(self, event: Any, _dispatcher: Any) -> None:
        by_id = {node.nodeid: name for name, node in self._nodes.items()}
        values = {by_id[w.NodeId]: w.Value.Value.Value for w in event.request_params.NodesToWrite if w.NodeId in by_id}
        if values:
            self._received(values)

    def _stop(self) -> None:
        if self._loop is None:
            return
        try:
            self._values = {name: self.read(name) for name in self._nodes}  # survive a restart, like a PLC
            if self._server is not None:
                self._loop.run(self._server.stop(), 5.0)
        finally:
            self._loop.stop()
            self._loop, self._server = None, None
            self._nodes = {}

    def read(self, name: str) -> Value:
        assert self._loop is not None
        return self._loop.run(self._nodes[name].read_value(), 2.0)

    def write(self, name: str, value: Value) -> None:
        from asyncua import ua

        assert self._loop is not None
        node = self._nodes[name]
        self._loop.run(node.write_value(ua.Variant(value, self._vtype(name))), 2.0)
