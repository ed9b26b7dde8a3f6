"""A small asyncua server on its own event-loop thread, whose variables read and write Python callables.

Variables are backed by callables (value callbacks), so the server always serves the live state of the
object behind it and a write goes straight to that object's own validation; a refused write reaches
the client as the OPC UA status the callable raised (BadOutOfRange, BadTypeMismatch, …).
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable
from typing import Any

from asyncua import Server, ua
from asyncua.common.node import Node

from inspection.aio.loop import LoopThread
from inspection.errors import OutputError

__all__ = ["CallbackServer", "Reader", "Writer"]

Reader = Callable[[], Any]
Writer = Callable[[Any], None]

_VARIANTS = {float: ua.VariantType.Double, int: ua.VariantType.Int64, str: ua.VariantType.String,
             bool: ua.VariantType.Boolean}


class CallbackServer:
    """asyncua Server on 127.0.0.1 (by default) running on a background thread. Context manager."""

    def __init__(self, name: str, namespace: str, host: str = "127.0.0.1", port: int = 4840,
                 path: str = "", timeout_s: float = 15.0) -> None:
        self.name = name
        self.namespace = namespace
        self.host, self.port = host, int(port)
        self.endpoint = f"opc.tcp://{host}:{self.port}/{path.strip('/')}" + ("/" if path else "")
        self.timeout_s = timeout_s
        self._loop: LoopThread | None = None
        self._server: Server | None = None
        self.ns = 0
        self._builders: list[Callable[[CallbackServer], Any]] = []

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> CallbackServer:
        self._check_port_free()  # fail fast: building the address space takes seconds
        self._loop = LoopThread(f"opcua-{self.name}")
        try:
            self._loop.run(self._start(), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            self.stop()
            raise self._port_error(exc) from None
        return self

    def _check_port_free(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise self._port_error(exc) from None

    def _port_error(self, exc: BaseException) -> OutputError:
        return OutputError(f"cannot start the OPC UA server {self.name} on {self.endpoint}: {exc or 'timed out'}; "
                           f"is the port already in use? pick another with --port")

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._server is not None:
            try:
                self._loop.run(self._server.stop(), self.timeout_s)
            except Exception as exc:  # shutdown must finish; the cause is only worth a log line
                logging.getLogger(__name__).debug("stopping %s: %s", self.name, exc)
            self._server = None
        self._loop.stop()
        self._loop = None

    def __enter__(self) -> CallbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop (e.g. a periodic task started by a subclass)."""
        if self._loop is None:
            raise OutputError(f"OPC UA server {self.name} is not running")
        return self._loop.run(coro, self.timeout_s)

    def spawn(self, coro: Any) -> None:
        if self._loop is None:
            raise OutputError(f"OPC UA server {self.name} is not running")
        self._loop.loop.call_soon_threadsafe(self._loop.loop.create_task, coro)

    async def _start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(self.name)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.ns = await server.register_namespace(self.namespace)
        await self.build(server)
        await server.start()
        self._server = server

    async def build(self, server: Server) -> None:
        """Subclasses add their nodes here (before the server starts listening)."""

    # --- node helpers ---------------------------------------------------------------------------

    def node_id(self, path: str) -> ua.NodeId:
        return ua.NodeId(path, self.ns)

    async def add_object(self, parent: Node, path: str, name: str) -> Node:
        return await parent.add_object(self.node_id(path), ua.QualifiedName(name, self.ns))

    async def add_variable(self, server: Server, parent: Node, path: str, name: str, kind: type,
                           read: Reader, write: Writer | None = None) -> Node:
        """A variable whose value is `read()` at every read; writable through `write(value)` if given."""
        vtype = _VARIANTS[kind]
        node = await parent.add_variable(self.node_id(path), ua.QualifiedName(name, self.ns),
                                         ua.Variant(_initial(kind), vtype), varianttype=vtype)
        if write is not None:
            await node.set_writable(True)

        def on_read(_nodeid: ua.NodeId, _attr: ua.AttributeIds) -> ua.DataValue:
            try:
                value = read()
            except Exception:  # a broken source must not take the server down: serve a bad status
                return ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadInternalError))
            return ua.DataValue(ua.Variant(kind(value), vtype))

        server.set_attribute_value_callback(node.nodeid, on_read)
        if write is not None:
            def on_write(_node: Any, _attr: ua.AttributeIds, value: ua.DataValue) -> None:
                raw = value.Value.Value if value.Value is not None else None
                if kind is float and isinstance(raw, int | float) and not isinstance(raw, bool):
                    raw = float(raw)
                if not isinstance(raw, kind) or (kind is float and not math.isfinite(raw)):
                    raise ua.uaerrors.BadTypeMismatch()
                write(raw)

            server.set_attribute_value_setter(node.nodeid, on_write)
        return node


def _initial(kind: type) -> Any:
    return kind()
