"""`kind: s7`: the reject signal into a Siemens S7 data block (python-snap7 client, ISO-on-TCP).

Addresses in STEP 7 notation, DB area only: ``DB10.DBX0.0`` (bit), ``DB10.DBB1`` (byte), ``DB10.DBW2``
(word), ``DB10.DBD4`` (double word), ``DB10.STRING20.16`` (S7 STRING[16] at byte 20; 18 bytes).
On S7-1200/1500 the DB must have "optimized block access" switched off so offsets are fixed.

The station keeps a copy of the bytes it owns (every byte an output signal touches) and writes a result
as one `db_write` over the touched bytes when they are contiguous: the PLC never sees half a result.
A station output bit may not share a byte with a PLC input (the station would overwrite it).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from inspection.outputs.link import LinkError, Value, is_integer_text
from inspection.outputs.signal_map import SignalKind, signal_kind
from inspection.outputs.supervisor import PlcOptions, PlcOutput

__all__ = ["Options", "S7Address", "S7Link", "create", "parse_address"]

_RE = re.compile(r"^DB(\d+)\.DB([XBWD])(\d+)(?:\.(\d+))?$", re.IGNORECASE)
_RE_STRING = re.compile(r"^DB(\d+)\.STRING(\d+)\.(\d+)$", re.IGNORECASE)
_SIZES = {"X": 1, "B": 1, "W": 2, "D": 4}


@dataclass(frozen=True, slots=True)
class S7Address:
    db: int
    byte: int
    kind: Literal["X", "B", "W", "D", "S"]
    bit: int = 0
    length: int = 0  # STRING max length

    @property
    def size(self) -> int:
        return self.length + 2 if self.kind == "S" else _SIZES[self.kind]

    def bytes(self) -> range:
        return range(self.byte, self.byte + self.size)

    def __str__(self) -> str:
        if self.kind == "S":
            return f"DB{self.db}.STRING{self.byte}.{self.length}"
        return f"DB{self.db}.DB{self.kind}{self.byte}" + (f".{self.bit}" if self.kind == "X" else "")

    def encode(self, buf: bytearray, offset: int, value: Value, name: str) -> None:
        """Write `value` into `buf`, which holds this DB from byte `offset` on."""
        at = self.byte - offset
        if self.kind == "X":
            mask = 1 << self.bit
            buf[at] = (buf[at] | mask) if value else (buf[at] & ~mask & 0xFF)
            return
        if self.kind == "S":
            data = str(value).encode("latin-1", "replace")[: self.length]
            buf[at:at + self.size] = bytes([self.length, len(data)]) + data.ljust(self.length, b"\0")
            return
        if isinstance(value, str):
            if not is_integer_text(value):
                raise LinkError(f"{name} ({self}) holds a number but the value is text {value!r}; map it to a "
                                f"STRING address such as DB{self.db}.STRING{self.byte}.16")
            value = int(value)
        size = _SIZES[self.kind]
        buf[at:at + size] = (int(value) & ((1 << (8 * size)) - 1)).to_bytes(size, "big")

    def decode(self, buf: bytes | bytearray, offset: int) -> Value:
        at = self.byte - offset
        if self.kind == "X":
            return bool(buf[at] >> self.bit & 1)
        if self.kind == "S":
            used = min(buf[at + 1], self.length)
            return bytes(buf[at + 2:at + 2 + used]).decode("latin-1")
        return int.from_bytes(buf[at:at + _SIZES[self.kind]], "big")


def parse_address(name: str, address: str) -> S7Address:
    text = address.strip()
    if m := _RE_STRING.match(text):
        result = S7Address(int(m.group(1)), int(m.group(2)), "S", length=int(m.group(3)))
        if not 1 <= result.length <= 254:
            raise ValueError(f"{address!r}: an S7 STRING holds 1..254 characters")
    elif m := _RE.match(text):
        kind = m.group(2).upper()
        bit = m.group(4)
        if kind == "X" and (bit is None or int(bit) > 7):
            raise ValueError(f"{address!r}: a bit address needs a bit number 0..7, e.g. DB{m.group(1)}.DBX0.0")
        if kind != "X" and bit is not None:
            raise ValueError(f"{address!r}: only DBX addresses have a bit number")
        result = S7Address(int(m.group(1)), int(m.group(3)), kind, bit=int(bit or 0))  # type: ignore[arg-type]
    else:
        raise ValueError(f"{address!r} is not an S7 DB address; expected DB10.DBX0.0, DB10.DBB1, DB10.DBW2, "
                         f"DB10.DBD4 or DB10.STRING20.16")
    if result.db < 1:
        raise ValueError(f"{address!r}: DB numbers start at 1")
    kind = signal_kind(name)
    if (kind is SignalKind.BOOL) != (result.kind == "X"):
        wanted = "bit (DBX)" if kind is SignalKind.BOOL else "number (DBB/DBW/DBD) or text (STRING)"
        raise ValueError(f"{address!r}: {name} is a {wanted}")
    if kind is SignalKind.TEXT and result.kind != "S":
        raise ValueError(f"{address!r}: {name} is text; use DB<n>.STRING<byte>.<length>")
    return result


class Options(PlcOptions):
    kind: Literal["s7"] = "s7"
    port: int = Field(102, ge=1, le=65535)
    rack: int = Field(0, ge=0, le=7)
    slot: int = Field(1, ge=0, le=31, description="CPU slot: 1 for S7-1200/1500, 2 for S7-300")

    protocol: ClassVar[str] = "Siemens S7"

    @classmethod
    def parse_address(cls, name: str, address: str) -> Any:
        return parse_address(name, address)

    @model_validator(mode="after")
    def _outputs_do_not_share_bytes_with_inputs(self) -> Options:
        signals = {n: parse_address(n, a) for n, a in self.resolved_map().signals().items()}
        owned = {(a.db, b) for n, a in signals.items() if n.startswith("outputs.") for b in a.bytes()}
        for name, address in signals.items():
            if name.startswith("inputs.") and any((address.db, b) in owned for b in address.bytes()):
                raise ValueError(f"{name} ({address}) shares a byte with a station output; the station writes whole "
                                 f"bytes, so give PLC inputs their own bytes")
        return self


class S7Link:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.endpoint = f"S7 {options.host}:{options.port} rack {options.rack} slot {options.slot}"
        self.addresses = {n: parse_address(n, a) for n, a in options.resolved_map().signals().items()}
        self.owned: dict[int, set[int]] = {}
        for name, a in self.addresses.items():
            if name.startswith("outputs."):
                self.owned.setdefault(a.db, set()).update(a.bytes())
        self.shadow: dict[int, tuple[int, bytearray]] = {}  # db → (first byte, bytes the station owns)
        self._client: Any = None

    def describe(self, name: str) -> str:
        return f"{name} ({self.addresses[name]})"

    def connect(self) -> None:
        import snap7

        self.close()
        o = self.options
        try:  # snap7's own connect waits 5 s on a dead host; probe within our timeout first
            socket.create_connection((o.host, o.port), timeout=o.connect_timeout_s).close()
            client = self._handshake(snap7.Client())
        except (OSError, snap7.error.S7Error) as exc:
            raise LinkError(f"{self.endpoint}: cannot connect ({exc}); check host/port/rack/slot and that the PLC "
                            f"allows PUT/GET access", connection_lost=True) from None
        client.connection.timeout = o.timeout_s
        client.connection.socket.settimeout(o.timeout_s)
        self._client = client

    def _handshake(self, client: Any) -> Any:
        """snap7's ISO/S7 handshake, bounded by connect_timeout_s: the library waits a fixed 5 s for a peer
        that accepts the TCP connection but never answers (a hung PLC, another service on port 102)."""
        o = self.options
        failure: list[BaseException] = []

        def handshake() -> None:
            try:
                client.connect(o.host, o.rack, o.slot, o.port)
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)

        worker = threading.Thread(target=handshake, name="s7-connect", daemon=True)
        worker.start()
        worker.join(o.connect_timeout_s)
        if worker.is_alive():
            with contextlib.suppress(Exception):  # closes the socket: the handshake ends on its own
                client.disconnect()
            raise OSError(f"no S7 answer within {o.connect_timeout_s} s (the port accepts connections, the "
                          "handshake gets no reply)")
        if failure:
            raise failure[0]
        return client

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing a dead socket: nothing left to do
                self._client.disconnect()
            self._client = None

    def check(self) -> None:
        """Read every DB span once (exists, large enough) and load the owned bytes."""
        for db in sorted({a.db for a in self.addresses.values()}):
            members = [n for n, a in self.addresses.items() if a.db == db]
            for name in members:
                a = self.addresses[name]
                self._db_read([name], db, a.byte, a.size)
            if db in self.owned:
                first, last = min(self.owned[db]), max(self.owned[db])
                self.shadow[db] = (first, self._db_read(members, db, first, last - first + 1))

    def write(self, items: Sequence[tuple[str, Value]]) -> None:
        last = items[-1][0] if items else None
        touched: dict[int, set[int]] = {}
        for name, value in items:
            a = self.addresses[name]
            first, buf = self.shadow[a.db]
            a.encode(buf, first, value, name)
            touched.setdefault(a.db, set()).update(a.bytes())
        requests = []
        for db, used in touched.items():
            for start, end in self._runs(db, sorted(used)):
                names = [n for n, _ in items if self.addresses[n].db == db
                         and set(self.addresses[n].bytes()) & set(range(start, end + 1))]
                requests.append((last in names, db, start, end, names))
        for _, db, start, end, names in sorted(requests, key=lambda r: r[0]):
            first, buf = self.shadow[db]
            self._call(names, "db_write", db, start, bytearray(buf[start - first:end - first + 1]))

    def _runs(self, db: int, used: list[int]) -> list[tuple[int, int]]:
        """Merge touched bytes across gaps the station owns (rewriting them is harmless)."""
        owned = self.owned[db]
        spans: list[tuple[int, int]] = []
        for b in used:
            if spans and all(x in owned for x in range(spans[-1][1] + 1, b)):
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((b, b))
        return spans

    def read(self, names: Sequence[str]) -> dict[str, Value]:
        values: dict[str, Value] = {}
        for db in sorted({self.addresses[n].db for n in names}):
            members = [n for n in names if self.addresses[n].db == db]
            first = min(self.addresses[n].byte for n in members)
            end = max(self.addresses[n].byte + self.addresses[n].size for n in members)
            data = self._db_read(members, db, first, end - first)
            for n in members:
                values[n] = self.addresses[n].decode(data, first)
        return values

    def _db_read(self, names: Sequence[str], db: int, start: int, size: int) -> bytearray:
        return self._call(names, "db_read", db, start, size)

    def _call(self, names: Sequence[str], method: str, *args: Any) -> Any:
        import snap7

        signals = ", ".join(self.describe(n) for n in names)
        if self._client is None:
            raise LinkError(f"{self.endpoint}: not connected", connection_lost=True)
        try:
            return getattr(self._client, method)(*args)
        except snap7.error.S7ProtocolError as exc:
            db, start, size = args[0], args[1], args[2] if isinstance(args[2], int) else len(args[2])
            raise LinkError(f"{self.endpoint}: PLC refused {method} DB{db} bytes {start}..{start + size - 1} "
                            f"for {signals}: {exc}; check that DB{db} exists, is large enough and has optimized "
                            f"access off") from None
        except (snap7.error.S7Error, OSError) as exc:
            raise LinkError(f"{self.endpoint}: {method} for {signals}: {exc}", connection_lost=True) from None


def create(options: Options, alarm: Callable[[str, str], None] | None = None,
           job_change: Callable[[int, str | None], None] | None = None, **_: object) -> PlcOutput:
    return PlcOutput(options, S7Link(options), alarm=alarm, job_change=job_change)


# --- plugin hooks (see inspection.adapters.entry_points) --------------------------------------------------------
DOCS = "docs/plc.md"
SIMULATOR_PORT = 1102

# A real s7 server standing in for the PLC (`station plc-sim --protocol s7`).
# Named, not imported: the simulator imports this module (its address parser), never the other way.
simulator = "inspection.outputs.s7_sim:S7Sim"
