"""The Siemens S7 server (snap7) that stands in for the PLC: `station plc-sim --protocol s7`, tests, bench.

The adapter module names it as its `simulator` hook; see `inspection.outputs.plc_sim` for the base."""

from __future__ import annotations

import logging
import threading
from typing import Any

from inspection.outputs.link import Value
from inspection.outputs.plc_sim import PlcSim
from inspection.outputs.signal_map import SignalMap, default_map

log = logging.getLogger(__name__)

__all__ = ["S7Sim"]


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
