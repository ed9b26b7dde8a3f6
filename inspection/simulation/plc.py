"""Real protocol servers standing in for the PLC: Modbus TCP (pymodbus), S7 (snap7 Server), OPC UA (asyncua).

Used by `station plc-sim`, the tests and the bench. Each simulator lays out its memory from a signal map
(the same map the station uses), reports every write it receives as named signals, and lets the caller
read what the station wrote and set the PLC → station inputs, directly in server memory.

    with ModbusSim(default_map("modbus")) as plc:
        ... point a station at 127.0.0.1:plc.port ...
        plc.read("outputs.reject"); plc.write("inputs.trigger", True)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from inspection.aio.loop import LoopThread
from inspection.errors import OutputError
from inspection.outputs.link import Value
from inspection.outputs.signal_map import SignalKind, SignalMap, default_map, signal_kind

__all__ = ["ModbusSim", "OpcUaSim", "PlcSim", "S7Sim", "free_port", "make_sim", "wait_for"]

WriteHook = Callable[[float, dict[str, Value]], None]
"""(perf_counter time the write reached server memory, {signal: value written})."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class PlcSim:
    """Base: lifecycle, write hooks. Subclasses implement _start/_stop/read/write."""

    protocol = "plc"

    def __init__(self, smap: SignalMap, host: str = "127.0.0.1", port: int = 0) -> None:
        self.smap = smap
        self.host = host
        self.port = port or free_port(host)
        self.hooks: list[WriteHook] = []
        self.writes = 0
        self.running = False

    def start(self) -> PlcSim:
        try:
            self._start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                self._stop()
            raise OutputError(f"{self.protocol} simulator cannot listen on {self.host}:{self.port} ({exc}); "
                              f"is the port in use? pick another with --port") from None
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self.running = False
            self._stop()

    def __enter__(self) -> PlcSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _received(self, values: dict[str, Value]) -> None:
        t = time.perf_counter()
        self.writes += 1
        for hook in self.hooks:
            hook(t, values)

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def read(self, name: str) -> Value:
        raise NotImplementedError

    def write(self, name: str, value: Value) -> None:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Value]:
        return {name: self.read(name) for name in self.smap.signals()}


# --- Modbus TCP --------------------------------------------------------------------------------


class ModbusSim(PlcSim):
    protocol = "modbus"
    _FC: ClassVar[dict[str, int]] = {"coil": 1, "di": 2, "hr": 3, "ir": 4}

    def __init__(self, smap: SignalMap | None = None, host: str = "127.0.0.1", port: int = 0,
                 size: int = 256, unit_id: int = 1) -> None:
        from inspection.outputs.modbus import parse_address

        super().__init__(smap or default_map("modbus"), host, port)
        self.size = size
        self.unit_id = unit_id
        self.addresses = {n: parse_address(n, a) for n, a in self.smap.signals().items()}
        self.refuse: set[tuple[str, int]] = set()  # (area, index) writes answered "illegal address"
        self.stall_s = 0.0  # > 0: writes are answered this late, with "device busy", and not stored (a hung PLC)
        self.stalling = 0  # stalled requests still waiting
        self._loop: LoopThread | None = None
        self._server: Any = None
        self._device: Any = None

    def _build_device(self) -> Any:
        from pymodbus.simulator import SimData, SimDevice
        from pymodbus.simulator.simdata import DataType

        def bits() -> list[Any]:
            return [SimData(0, count=self.size, values=False, datatype=DataType.BITS)]

        def regs() -> list[Any]:
            return [SimData(0, count=self.size, values=0, datatype=DataType.REGISTERS)]

        return SimDevice(self.unit_id, simdata=(bits(), bits(), regs(), regs()), action=self._action)

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      current_registers: list[int], set_values: list[int] | list[bool] | None) -> Any:
        from pymodbus.constants import ExcCodes

        if set_values is None or function_code not in (5, 6, 15, 16):
            return None
        if self.stall_s > 0:
            self.stalling += 1
            try:
                await asyncio.sleep(self.stall_s)
            finally:
                self.stalling -= 1
            return ExcCodes.DEVICE_BUSY
        area = "coil" if function_code in (5, 15) else "hr"
        if any((area, i) in self.refuse for i in range(address, address + len(set_values))):
            return ExcCodes.ILLEGAL_ADDRESS  # like a write-protected PLC register
        values: dict[str, Value] = {}
        for name, a in self.addresses.items():
            if a.area == area and address <= a.index and a.index + a.size <= address + len(set_values):
                chunk = set_values[a.index - address: a.index - address + a.size]
                values[name] = a.decode([int(v) for v in chunk])
        self._received(values)
        return None

    def _start(self) -> None:
        from pymodbus.server import ModbusTcpServer

        self._loop = LoopThread("modbus-sim")
        if self._device is None:
            self._device = self._build_device()

        async def start() -> Any:
            server = ModbusTcpServer(self._device, address=(self.host, self.port))
            await server.serve_forever(background=True)
            return server

        self._server = self._loop.run(start(), 5.0)

    def _stop(self) -> None:
        if self._loop is None:
            return
        try:
            if self._server is not None:
                self._loop.run(self._server.shutdown(), 5.0)
        finally:
            self._loop.stop()
            self._loop, self._server = None, None

    def _memory(self, coro: Any) -> Any:
        if self._loop is None:
            raise OutputError("Modbus simulator is not running")
        return self._loop.run(coro, 2.0)

    def read(self, name: str) -> Value:
        a = self.addresses[name]
        data = self._memory(self._server.async_getValues(self.unit_id, self._FC[a.area], a.index, a.size))
        return a.decode([int(v) for v in data])

    def write(self, name: str, value: Value) -> None:
        a = self.addresses[name]
        data: list[Any]
        if a.fmt == "bool":
            data = [bool(value)]
        elif a.fmt == "bit":  # one bit of a register: keep the others
            word = int(self._memory(self._server.async_getValues(self.unit_id, self._FC[a.area], a.index, 1))[0])
            data = [word | (1 << a.bit) if value else word & ~(1 << a.bit)]
        else:
            data = a.encode(value, name)
        self._memory(self._server.async_setValues(self.unit_id, self._FC[a.area], a.index, data))


# --- Siemens S7 --------------------------------------------------------------------------------


class S7Sim(PlcSim):
    protocol = "s7"

    def __init__(self, smap: SignalMap | None = None, host: str = "127.0.0.1", port: int = 0,
                 db_sizes: dict[int, int] | None = None) -> None:
        from inspection.outputs.s7 import parse_address

        super().__init__(smap or default_map("s7"), host, port)
        self.addresses = {n: parse_address(n, a) for n, a in self.smap.signals().items()}
        sizes: dict[int, int] = {}
        for a in self.addresses.values():
            sizes[a.db] = max(sizes.get(a.db, 0), a.byte + a.size)
        sizes.update(db_sizes or {})
        self.dbs = {db: bytearray(size) for db, size in sizes.items()}
        self._locks = {db: threading.Lock() for db in self.dbs}
        self._server: Any = None

    def _event(self, event: Any) -> None:
        from snap7.server import EVC_DATA_WRITE  # type: ignore[attr-defined]

        if event.EvtCode != EVC_DATA_WRITE:
            return
        db, start, size = int(event.EvtParam2), int(event.EvtParam3), int(event.EvtParam4)
        values = {n: a.decode(self.dbs[db], 0) for n, a in self.addresses.items()
                  if a.db == db and start <= a.byte and a.byte + a.size <= start + size}
        self._received(values)

    def _start(self) -> None:
        import snap7
        from snap7.type import SrvArea

        logging.getLogger("snap7").setLevel(logging.ERROR)
        server = snap7.Server(log=False)
        for db, memory in self.dbs.items():
            server.register_area(SrvArea.DB, db, memory)
        server.set_events_callback(self._event)
        server.start_to(self.host, tcp_port=self.port)
        self._server = server

    def _stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None

    def read(self, name: str) -> Value:
        a = self.addresses[name]
        return a.decode(bytes(self.dbs[a.db]), 0)

    def write(self, name: str, value: Value) -> None:
        a = self.addresses[name]
        a.encode(self.dbs[a.db], 0, value, name)


# --- OPC UA ------------------------------------------------------------------------------------


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


def make_sim(protocol: str, smap: SignalMap | None = None, host: str = "127.0.0.1", port: int = 0) -> PlcSim:
    """The simulator of any installed output adapter with a `simulator` hook (plugins included)."""
    from inspection.plugins import find_hook, kinds_with_hook

    factory = find_hook("output", protocol, "simulator")
    if factory is None:
        raise OutputError(f"no PLC simulator for {protocol!r}; installed: "
                          f"{', '.join(kinds_with_hook('output', 'simulator'))}")
    return factory(smap or default_map(protocol), host, port)


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `condition` until true or timeout (for the CLI and tests)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.005)
    return condition()

