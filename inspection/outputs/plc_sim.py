"""The base of the real protocol servers that stand in for the PLC (one module per protocol beside its adapter:
`modbus_sim`, `s7_sim`, `opcua_sim`; a plugin brings its own through the `SIMULATOR` hook).

Used by `station plc-sim`, the tests and the bench. Each simulator lays out its memory from a signal map
(the same map the station uses), reports every write it receives as named signals, and lets the caller
read what the station wrote and set the PLC → station inputs, directly in server memory.

    with ModbusSim(default_map("modbus")) as plc:
        ... point a station at 127.0.0.1:plc.port ...
        plc.read("outputs.reject"); plc.write("inputs.trigger", True)
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable

from inspection.errors import OutputError
from inspection.outputs.link import Value
from inspection.outputs.signal_map import SignalMap, default_map

__all__ = ["PlcSim", "free_port", "make_sim", "wait_for"]

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


def make_sim(protocol: str, smap: SignalMap | None = None, host: str = "127.0.0.1", port: int = 0) -> PlcSim:
    """The simulator of any installed output adapter with a `simulator` hook (plugins included)."""
    from inspection.adapters.entry_points import find_hook, kinds_with_hook

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

