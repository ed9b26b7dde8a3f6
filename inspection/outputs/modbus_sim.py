"""The Modbus TCP server (pymodbus) that stands in for the PLC: `station plc-sim --protocol modbus`, tests, bench.

The adapter module names it as its `simulator` hook; see `inspection.outputs.plc_sim` for the base."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from inspection.aio.loop import LoopThread
from inspection.errors import OutputError
from inspection.outputs.link import Value
from inspection.outputs.plc_sim import PlcSim
from inspection.outputs.signal_map import SignalMap, default_map

log = logging.getLogger(__name__)

__all__ = ["ModbusSim"]


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
