"""`kind: textplc`: the reject signal as JSON lines over TCP (a protocol the station does not ship).

Hooks: SIGNAL_MAP (default map), simulator/SIMULATOR_PORT (`station plc-sim`), DOCS.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from inspection.outputs.link import LinkError, Value
from inspection.outputs.plc_sim import PlcSim
from inspection.outputs.signal_map import SignalMap
from inspection.outputs.supervisor import PlcOptions, PlcOutput

SIGNAL_MAP = Path(__file__).with_name("textplc.yaml")
SIMULATOR_PORT = 7000
DOCS = str(Path(__file__).with_name("textplc.md"))


def _tag(name: str, address: str) -> str:
    if not address.startswith("tag:") or len(address) == 4:
        raise ValueError(f"expected 'tag:NAME', got {address!r}")
    return address[4:]


class Options(PlcOptions):
    kind: Literal["textplc"] = "textplc"
    port: int = Field(7000, ge=1, le=65535)

    protocol: ClassVar[str] = "textplc"

    @classmethod
    def parse_address(cls, name: str, address: str) -> Any:
        return _tag(name, address)


class TextLink:
    """One TCP connection; every request one line out, one line back, bounded by timeout_s."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.endpoint = f"textplc {options.host}:{options.port}"
        self.tags = {n: _tag(n, a) for n, a in options.resolved_map().signals().items()}
        self._sock: socket.socket | None = None
        self._file: Any = None

    def describe(self, name: str) -> str:
        return f"{name} (tag:{self.tags[name]})"

    def connect(self) -> None:
        self.close()
        try:
            self._sock = socket.create_connection((self.options.host, self.options.port),
                                                  timeout=self.options.connect_timeout_s)
        except OSError as exc:
            raise LinkError(f"{self.endpoint}: cannot connect ({exc})", connection_lost=True) from None
        self._sock.settimeout(self.options.timeout_s)
        self._file = self._sock.makefile("rwb")

    def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._file is None:
            raise LinkError(f"{self.endpoint}: not connected", connection_lost=True)
        try:
            self._file.write(json.dumps(message).encode() + b"\n")
            self._file.flush()
            line = self._file.readline()
        except OSError as exc:
            raise LinkError(f"{self.endpoint}: {exc}", connection_lost=True) from None
        if not line:
            raise LinkError(f"{self.endpoint}: connection closed by the PLC", connection_lost=True)
        reply = json.loads(line)
        if not reply.get("ok"):
            raise LinkError(f"{self.endpoint}: {reply.get('error')}")
        return reply

    def check(self) -> None:
        self.read(list(self.tags))

    def write(self, items: Sequence[tuple[str, Value]]) -> None:
        self._request({"op": "set", "values": {self.tags[n]: v for n, v in items}})

    def read(self, names: Sequence[str]) -> dict[str, Value]:
        values = self._request({"op": "get", "tags": [self.tags[n] for n in names]})["values"]
        return {n: values[self.tags[n]] for n in names}

    def close(self) -> None:
        for closable in (self._file, self._sock):
            if closable is not None:
                closable.close()
        self._file = self._sock = None


def create(options: Options, alarm: Callable[[str, str], None] | None = None,
           job_change: Callable[[int, str | None], None] | None = None, **_: object) -> PlcOutput:
    return PlcOutput(options, TextLink(options), alarm=alarm, job_change=job_change)


class TextPlcSim(PlcSim):
    """The PLC side: a threaded TCP server holding the tags in memory."""

    protocol = "textplc"

    def __init__(self, smap: SignalMap, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(smap, host, port)
        self.tags = {n: _tag(n, a) for n, a in smap.signals().items()}
        self.memory: dict[str, Value] = {t: 0 for t in self.tags.values()}
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        sim = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    message = json.loads(line)
                    with sim._lock:
                        if message["op"] == "set":
                            sim.memory.update(message["values"])
                            reply: dict[str, Any] = {"ok": True}
                        else:
                            reply = {"ok": True, "values": {t: sim.memory.get(t, 0) for t in message["tags"]}}
                    if message["op"] == "set":
                        by_tag = {t: n for n, t in sim.tags.items()}
                        sim._received({by_tag[t]: v for t, v in message["values"].items() if t in by_tag})
                    self.wfile.write(json.dumps(reply).encode() + b"\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="plc-textsim",
                                        daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
        self._server = self._thread = None

    def read(self, name: str) -> Value:
        with self._lock:
            return self.memory[self.tags[name]]

    def write(self, name: str, value: Value) -> None:
        with self._lock:
            self.memory[self.tags[name]] = value


def simulator(smap: SignalMap, host: str = "127.0.0.1", port: int = 0) -> TextPlcSim:
    return TextPlcSim(smap, host, port)
