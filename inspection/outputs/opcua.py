"""`kind: opcua`: the reject signal written to OPC UA nodes (asyncua client on a private event-loop thread).

Addresses are node ids (``ns=2;s=Line1.Station.Reject``, ``ns=3;i=1042``). When the connection opens, every
node is read once: a node that does not exist, or whose data type cannot hold the signal (Boolean for bits,
an integer type for numbers, String for text), is an error naming the signal and the node. A result is one
Write service call with result_valid last in the list.

asyncua is asynchronous; the station is not. The client lives on its own event loop in a daemon thread and
each call waits for its result at most `timeout_s` (then the call is cancelled), so `publish` stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field

from inspection.aio.loop import LoopThread
from inspection.outputs.link import LinkError, Value, is_integer_text
from inspection.outputs.signal_map import SignalKind, signal_kind
from inspection.outputs.supervisor import PlcOptions, PlcOutput
from inspection.people.opcua_access import ClientSecurity, secure_client

__all__ = ["OpcUaLink", "Options", "create", "parse_address"]

T = TypeVar("T")

_INTEGER_TYPES = {"SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64"}
_EXPECTED = {SignalKind.BOOL: {"Boolean"}, SignalKind.INT: _INTEGER_TYPES, SignalKind.TEXT: {"String"}}


_LOST_WORDS = ("Session", "Connection", "SecureChannel", "Server", "Timeout", "Communication", "Shutdown")


def _connection_gone(exc: BaseException) -> bool:
    """A Bad status about one node keeps the session; anything about the session/transport does not."""
    from asyncua import ua

    if not isinstance(exc, ua.UaStatusCodeError):
        return True
    return any(word in type(exc).__name__ for word in _LOST_WORDS)


def parse_address(name: str, address: str) -> Any:
    from asyncua import ua

    try:
        return ua.NodeId.from_string(address.strip())
    except Exception:
        raise ValueError(f"{address!r} is not an OPC UA node id; expected e.g. ns=2;s=Station.Reject or "
                         f"ns=2;i=1001") from None


class Options(PlcOptions):
    kind: Literal["opcua"] = "opcua"
    port: int = Field(4840, ge=1, le=65535)
    path: str = Field("", description="endpoint path after host:port, e.g. 'freeopcua/server/'")
    timeout_s: float = Field(1.0, gt=0.0, le=30.0, description="each service call")
    security: ClientSecurity = Field(ClientSecurity(), description="SecurityPolicy, client certificate, user "
                                     "(docs/security.md); None logs a warning")

    protocol: ClassVar[str] = "OPC UA"

    @classmethod
    def parse_address(cls, name: str, address: str) -> Any:
        return parse_address(name, address)

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/{self.path.lstrip('/')}"


class OpcUaLink:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.endpoint = f"OPC UA {options.url}"
        self.addresses = dict(options.resolved_map().signals())
        self.nodeids = {n: parse_address(n, a) for n, a in self.addresses.items()}
        self.types: dict[str, Any] = {}
        self._loop: LoopThread | None = None
        self._client: Any = None

    def describe(self, name: str) -> str:
        return f"{name} ({self.addresses[name]})"

    def _run(self, coro: Coroutine[Any, Any, T], what: str, timeout_s: float | None = None) -> T:
        assert self._loop is not None
        try:
            return self._loop.run(coro, timeout_s or self.options.timeout_s)
        except LinkError:
            raise
        except (Exception, asyncio.CancelledError) as exc:
            raise LinkError(f"{self.endpoint}: {what}: {type(exc).__name__} {exc}".rstrip(),
                            connection_lost=_connection_gone(exc)) from None

    def connect(self) -> None:
        from asyncua import Client

        self.close()
        self._loop = LoopThread("opcua-client")
        client = Client(self.options.url, timeout=self.options.timeout_s)
        try:
            self._run(secure_client(client, self.options.security, self.options.url), "security setup",
                      self.options.connect_timeout_s)
            self._run(client.connect(), "cannot connect; check host/port/path and that the server runs",
                      self.options.connect_timeout_s)
        except LinkError as exc:
            exc.connection_lost = True
            raise
        self._client = client

    def close(self) -> None:
        if self._client is not None and self._loop is not None:
            with contextlib.suppress(Exception):  # the server is gone: nothing to say goodbye to
                self._loop.run(self._client.disconnect(), self.options.timeout_s)
        self._client = None
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def check(self) -> None:
        from asyncua import ua

        async def read_types() -> dict[str, Any]:
            found = {}
            for name, nodeid in self.nodeids.items():
                node = self._client.get_node(nodeid)
                try:
                    found[name] = await node.read_data_type_as_variant_type()
                except ua.UaStatusCodeError as exc:
                    raise LinkError(f"{self.endpoint}: {self.describe(name)}: node not readable "
                                    f"({type(exc).__name__}); create it on the server or fix the node id") from None
            return found

        self.types = self._run(read_types(), "reading node types", self.options.timeout_s * 4)
        for name, vtype in self.types.items():
            kind = signal_kind(name)
            allowed = _EXPECTED[kind] | ({"String"} if name.endswith(".part_id") else set())
            if vtype.name not in allowed:
                raise LinkError(f"{self.endpoint}: {self.describe(name)} has data type {vtype.name}; "
                                f"{name} needs {' or '.join(sorted(allowed))}")

    def write(self, items: Sequence[tuple[str, Value]]) -> None:
        from asyncua import ua

        names = [n for n, _ in items]
        values = []
        for name, value in items:
            vtype = self.types[name]
            if vtype.name in _INTEGER_TYPES:
                if isinstance(value, str) and not is_integer_text(value):
                    raise LinkError(f"{self.describe(name)} holds a number but the value is text {value!r}; "
                                    f"make the node a String")
                value = int(value)
            elif vtype.name == "String":
                value = str(value)
            values.append(ua.DataValue(ua.Variant(value, vtype)))

        async def write() -> list[Any]:
            return await self._client.uaclient.write_attributes(
                [self.nodeids[n] for n in names], values, ua.AttributeIds.Value)

        if self._client is None:
            raise LinkError(f"{self.endpoint}: not connected", connection_lost=True)
        results = self._run(write(), f"write of {', '.join(names)}")
        bad = [(n, r) for n, r in zip(names, results, strict=True) if not r.is_good()]
        if bad:
            raise LinkError(f"{self.endpoint}: server refused " + "; ".join(
                f"{self.describe(n)}: {r.name}" for n, r in bad))

    def read(self, names: Sequence[str]) -> dict[str, Value]:
        if self._client is None:
            raise LinkError(f"{self.endpoint}: not connected", connection_lost=True)
        nodes = [self._client.get_node(self.nodeids[n]) for n in names]
        values = self._run(self._client.read_values(nodes), f"read of {', '.join(names)}")
        return dict(zip(names, values, strict=True))


def create(options: Options, alarm: Callable[[str, str], None] | None = None,
           job_change: Callable[[int, str | None], None] | None = None, **_: object) -> PlcOutput:
    return PlcOutput(options, OpcUaLink(options), alarm=alarm, job_change=job_change)


# --- plugin hooks (see inspection.adapters.entry_points) --------------------------------------------------------
DOCS = "docs/plc.md"
SIMULATOR_PORT = 4840

# A real opcua server standing in for the PLC (`station plc-sim --protocol opcua`).
# Named, not imported: the simulator imports this module (its address parser), never the other way.
simulator = "inspection.outputs.opcua_sim:OpcUaSim"
