"""Process port adapter `opcua`: asyncua client writing setpoints and reading back actuals.

Speaks the address space of `inspection.simulation.twin_server` (the twin is its real peer on 127.0.0.1);
a real line that exposes the same node ids (namespace + `Process.Parameters.<p>.Setpoint/Actual`) is
driven the same way. Every call is bounded by `timeout_s`; a refused write raises WriteRejected with
the parameter, the value and the server's status code.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any, Literal

from asyncua import Client, ua
from pydantic import Field

from inspection.aio.loop import LoopThread
from inspection.config import AdapterOptions
from inspection.people.opcua_access import ClientSecurity, secure_client
from inspection.process import NAMESPACE, ParameterInfo, ProcessError, WriteRejected

__all__ = ["OpcUaProcess", "Options", "create"]


class Options(AdapterOptions):
    kind: Literal["opcua"] = "opcua"
    url: str = Field("opc.tcp://127.0.0.1:4850/twin/", pattern=r"^opc\.tcp://")
    namespace: str = NAMESPACE
    timeout_s: float = Field(5.0, gt=0, le=120)
    security: ClientSecurity = Field(ClientSecurity(), description="SecurityPolicy, client certificate, user "
                                     "(docs/security.md); None logs a warning")


class OpcUaProcess:
    """ProcessPort over OPC UA. Context manager: `with OpcUaProcess(options) as port: ...`."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.process = ""
        self._loop: LoopThread | None = None
        self._client: Client | None = None
        self._ns = 0
        self._info: dict[str, ParameterInfo] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        if self._client is not None:
            return
        self._loop = LoopThread("opcua-process-client")
        self._client = Client(self.options.url, timeout=self.options.timeout_s)
        try:
            self._call(secure_client(self._client, self.options.security, self.options.url), "security setup")
            self._call(self._client.connect(), "connect")
            self._ns = self._call(self._client.get_namespace_index(self.options.namespace), "read namespace")
            self.process = self._call(self._node("Process.Name").read_value(), "read Process.Name")
            self._info = self._call(self._read_info(), "browse parameters")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._client is not None and self._loop is not None:
            with contextlib.suppress(Exception):  # the server may be gone already; closing must still finish
                self._loop.run(self._client.disconnect(), self.options.timeout_s)
        self._client = None
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def __enter__(self) -> OpcUaProcess:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the port -------------------------------------------------------------------------------

    def parameters(self) -> dict[str, ParameterInfo]:
        self._require_open()
        return dict(self._info)

    def read_setpoints(self) -> dict[str, float]:
        return self._read_all("Setpoint")

    def read_actuals(self) -> dict[str, float]:
        return self._read_all("Actual")

    def write_setpoints(self, values: Mapping[str, float]) -> None:
        """Checked against the ranges the server published, then written in one request."""
        self._require_open()
        nodes, variants = [], []
        for name, value in values.items():
            info = self._info.get(name)
            if info is None:
                raise WriteRejected(f"{self.options.url}: unknown parameter {name!r}; "
                                    f"the process has {', '.join(self._info)}")
            number = float(value)
            if not math.isfinite(number):
                raise WriteRejected(f"{self.options.url}: {name}: expected a finite number, got {value!r}")
            if not info.low <= number <= info.high:  # a process that does not enforce its own range
                raise WriteRejected(f"{self.options.url}: {name} = {number:g} {info.unit} is outside the range "
                                    f"the process publishes ({info.low:g}..{info.high:g}); not written")
            nodes.append(self._node(f"Process.Parameters.{name}.Setpoint"))
            variants.append(ua.DataValue(ua.Variant(number, ua.VariantType.Double)))
        try:
            self._call(self._client.write_values(nodes, variants), "write setpoints")  # type: ignore[union-attr]
        except ua.UaStatusCodeError as exc:
            shown = ", ".join(f"{n} = {float(v):g} {self._info[n].unit} (range {self._info[n].low:g}.."
                              f"{self._info[n].high:g})" for n, v in values.items())
            raise WriteRejected(f"{self.options.url} refused the write ({shown}): {type(exc).__name__}; "
                                f"check the value against the process range") from None

    # --- internals ------------------------------------------------------------------------------

    def _node(self, path: str) -> Any:
        return self._client.get_node(ua.NodeId(path, self._ns))  # type: ignore[union-attr]

    def _read_all(self, leaf: str) -> dict[str, float]:
        self._require_open()
        names = list(self._info)
        nodes = [self._node(f"Process.Parameters.{n}.{leaf}") for n in names]
        values = self._call(self._client.read_values(nodes), f"read {leaf}")  # type: ignore[union-attr]
        return {n: float(v) for n, v in zip(names, values, strict=True)}

    async def _read_info(self) -> dict[str, ParameterInfo]:
        folder = self._node("Process.Parameters")
        info = {}
        for child in await folder.get_children():
            name = (await child.read_browse_name()).Name
            base = f"Process.Parameters.{name}"
            fields = ["Low", "High", "Nominal", "Scale", "Unit"]
            low, high, nominal, scale, unit = await self._client.read_values(  # type: ignore[union-attr]
                [self._node(f"{base}.{f}") for f in fields])
            info[name] = ParameterInfo(name, unit, nominal, low, high, scale)
        if not info:
            raise ProcessError(f"{self.options.url}: no parameters under Process.Parameters in namespace "
                               f"{self.options.namespace}; is this the process twin or a compatible server?")
        return info

    def _call(self, coro: Any, what: str) -> Any:
        if self._loop is None:
            raise ProcessError(f"{self.options.url}: not connected; open() the process port first")
        try:
            return self._loop.run(coro, self.options.timeout_s + 1.0)
        except TimeoutError:
            raise ProcessError(f"{self.options.url}: {what}: no answer within {self.options.timeout_s:g} s; "
                               "is the process server running and reachable?") from None
        except ua.UaStatusCodeError:
            raise
        except (OSError, ConnectionError, ua.UaError) as exc:
            raise ProcessError(f"{self.options.url}: {what} failed: {exc or type(exc).__name__}; "
                               "is the process server running?") from None

    def _require_open(self) -> None:
        if self._client is None:
            raise ProcessError(f"{self.options.url}: not connected; open() the process port first")


def create(options: Options, **_: Any) -> OpcUaProcess:
    return OpcUaProcess(options)
