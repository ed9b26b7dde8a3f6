"""`kind: modbus`: the reject signal over Modbus TCP (pymodbus client; the PLC is the Modbus server).

Addresses (0-based protocol addresses, as on the wire): ``coil:N`` (bit), ``hr:N.b`` (bit b 0..15 of
holding register N), ``hr:N`` (u16), ``hr:N:i16|u32|i32`` (32-bit values in 2 registers, high word first),
``hr:N:strL`` (ASCII, L characters, 2 per register), ``di:N`` / ``ir:N[.b|:fmt]`` (read-only: PLC → station
inputs only).

A result goes out in as few requests as the map allows: contiguous registers in one ``write_registers``,
contiguous coils in one ``write_coils``; the request carrying ``result_valid`` goes last. The bundled map
keeps the whole result (status bits in a register) in hr:0..7, so one result is one request and the PLC
never sees half of it. The station owns every register an output bit lives in (it keeps their value and
rewrites the whole word), so a PLC input may not share a register with a station output bit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from inspection.outputs.link import LinkError, Value, is_integer_text, runs
from inspection.outputs.signal_map import SignalKind, signal_kind
from inspection.outputs.supervisor import PlcOptions, PlcOutput

__all__ = ["ModbusAddress", "ModbusLink", "Options", "create", "parse_address"]

_RE = re.compile(r"^(coil|hr|di|ir):(\d+)(?:\.(\d+)|:(u16|i16|u32|i32|str\d+))?$")
_BITS = {"coil", "di"}
_WRITABLE = {"coil", "hr"}
MAX_ADDRESS = 65535


@dataclass(frozen=True, slots=True)
class ModbusAddress:
    area: Literal["coil", "hr", "di", "ir"]
    index: int
    fmt: str  # bool (coil/di) | bit (in a register) | u16 | i16 | u32 | i32 | strN
    bit: int = 0

    @property
    def size(self) -> int:
        """Coils or registers this value occupies."""
        if self.fmt in ("bool", "bit", "u16", "i16"):
            return 1
        if self.fmt in ("u32", "i32"):
            return 2
        return (int(self.fmt[3:]) + 1) // 2

    def __str__(self) -> str:
        if self.fmt == "bit":
            return f"{self.area}:{self.index}.{self.bit}"
        return f"{self.area}:{self.index}" + ("" if self.fmt in ("bool", "u16") else f":{self.fmt}")

    def encode(self, value: Value, name: str) -> list[int]:
        if self.fmt.startswith("str"):
            data = str(value).encode("ascii", "replace")[: int(self.fmt[3:])].ljust(self.size * 2, b"\0")
            return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
        if isinstance(value, str):
            if not is_integer_text(value):
                raise LinkError(f"{name} ({self}) holds a number but the value is text {value!r}; map it to a "
                                f"text address such as hr:{self.index}:str16")
            value = int(value)
        number = int(value)
        if self.fmt in ("u16", "i16"):
            return [number & 0xFFFF]
        number &= 0xFFFFFFFF
        return [number >> 16, number & 0xFFFF]

    def decode(self, words: Sequence[int]) -> Value:
        if self.fmt == "bool":
            return bool(words[0])
        if self.fmt == "bit":
            return bool(int(words[0]) >> self.bit & 1)
        if self.fmt.startswith("str"):
            raw = b"".join(int(w).to_bytes(2, "big") for w in words)
            return raw.split(b"\0", 1)[0].decode("ascii", "replace")
        if self.fmt in ("u16", "i16"):
            value = int(words[0])
            return value - 0x10000 if self.fmt == "i16" and value & 0x8000 else value
        value = (int(words[0]) << 16) | int(words[1])
        return value - 0x100000000 if self.fmt == "i32" and value & 0x80000000 else value


def parse_address(name: str, address: str) -> ModbusAddress:
    m = _RE.match(address.strip())
    if not m:
        raise ValueError(f"{address!r} is not a Modbus address; expected coil:N, hr:N, hr:N.b (bit b of a register), "
                         f"hr:N:u32|i32|i16|strL, di:N or ir:N")
    area, index, bit, fmt = m.group(1), int(m.group(2)), m.group(3), m.group(4)
    kind = signal_kind(name)
    if area in _BITS:
        if fmt or bit is not None:
            raise ValueError(f"{address!r}: a {area} is one bit; write {area}:{index}")
        fmt = "bool"
    elif bit is not None:
        if int(bit) > 15:
            raise ValueError(f"{address!r}: a register has bits 0..15")
        fmt = "bit"
    else:
        fmt = fmt or "u16"
    if kind is SignalKind.BOOL and fmt not in ("bool", "bit"):
        raise ValueError(f"{address!r}: {name} is a bit; use a coil (coil:N) or a register bit (hr:N.b)")
    if kind is not SignalKind.BOOL and fmt in ("bool", "bit"):
        raise ValueError(f"{address!r}: {name} is a number/text; put it in a register (hr:N)")
    if kind is SignalKind.TEXT and not fmt.startswith("str"):
        raise ValueError(f"{address!r}: {name} is text; use hr:N:strL (L characters)")
    if name.startswith("outputs.") and area not in _WRITABLE:
        raise ValueError(f"{address!r}: {name} is written by the station; {area} is read-only, use coil or hr")
    result = ModbusAddress(area, index, fmt, int(bit or 0))  # type: ignore[arg-type]
    if index + result.size - 1 > MAX_ADDRESS:
        raise ValueError(f"{address!r}: beyond the Modbus address space (0..{MAX_ADDRESS})")
    return result


class Options(PlcOptions):
    kind: Literal["modbus"] = "modbus"
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit / device id of the PLC")

    protocol: ClassVar[str] = "Modbus TCP"

    @classmethod
    def parse_address(cls, name: str, address: str) -> Any:
        return parse_address(name, address)

    @model_validator(mode="after")
    def _output_bit_registers_are_the_stations(self) -> Options:
        signals = {n: parse_address(n, a) for n, a in self.resolved_map().signals().items()}
        owned = {a.index for n, a in signals.items() if n.startswith("outputs.") and a.fmt == "bit"}
        for name, a in signals.items():
            station_bit = name.startswith("outputs.") and a.fmt == "bit"
            if a.area == "hr" and not station_bit and owned & set(range(a.index, a.index + a.size)):
                raise ValueError(f"{name} ({a}) shares a register with a station output bit; the station writes "
                                 f"whole registers, so give it its own register")
        return self


_EXCEPTIONS = {1: "illegal function", 2: "illegal data address (outside the PLC's register range)",
               3: "illegal data value", 4: "server device failure", 6: "server busy"}


class ModbusLink:
    """One pymodbus ModbusTcpClient; every request bounded by timeout_s, no library retries."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.endpoint = f"Modbus TCP {options.host}:{options.port} unit {options.unit_id}"
        self.addresses = {n: parse_address(n, a) for n, a in options.resolved_map().signals().items()}
        self._bit_words: dict[int, int] = {}  # registers holding station output bits: the station's copy
        self._client: Any = None

    def describe(self, name: str) -> str:
        return f"{name} ({self.addresses[name]})"

    def connect(self) -> None:
        from pymodbus.client import ModbusTcpClient

        # pymodbus logs (and hex-dumps) every failure at ERROR; LinkError already reports it with the signal
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        self.close()
        client = ModbusTcpClient(self.options.host, port=self.options.port, timeout=self.options.connect_timeout_s,
                                 retries=0, reconnect_delay=0, reconnect_delay_max=0)
        if not client.connect():
            client.close()
            raise LinkError(f"{self.endpoint}: cannot connect (refused or unreachable); check host/port and that "
                            f"the PLC's Modbus server is enabled", connection_lost=True)
        client.comm_params.timeout_connect = self.options.timeout_s  # per-request timeout from now on
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def check(self) -> None:
        for name in self.addresses:
            self.read([name])

    def write(self, items: Sequence[tuple[str, Value]]) -> None:
        words: dict[int, int] = {}  # register → value
        coils: dict[int, bool] = {}
        owners: dict[tuple[str, int], list[str]] = {}  # (area, index) → signals in it, for error messages
        for name, value in items:
            a = self.addresses[name]
            if a.area == "coil":
                coils[a.index] = bool(value)
                owners.setdefault(("coil", a.index), []).append(name)
                continue
            if a.fmt == "bit":
                word = self._bit_words.get(a.index, 0)
                self._bit_words[a.index] = words[a.index] = word | (1 << a.bit) if value else word & ~(1 << a.bit)
            else:
                for k, word in enumerate(a.encode(value, name)):
                    words[a.index + k] = word
            for k in range(a.size):
                owners.setdefault(("hr", a.index + k), []).append(name)
        last = items[-1][0] if items else None
        requests = [("write_registers", "hr", start, indices) for start, indices in runs((i, 1, i) for i in words)]
        requests += [("write_coils", "coil", start, indices) for start, indices in runs((i, 1, i) for i in coils)]
        for method, area, start, indices in sorted(  # the request carrying result_valid goes last
                requests, key=lambda r: last in {n for i in r[3] for n in owners[(r[1], i)]}):
            names = list(dict.fromkeys(n for i in indices for n in owners[(area, i)]))
            values = [words[i] for i in indices] if area == "hr" else [coils[i] for i in indices]
            self._call([(n, None) for n in names], method, start, values)

    def read(self, names: Sequence[str]) -> dict[str, Value]:
        values: dict[str, Value] = {}
        for area in ("coil", "di", "hr", "ir"):
            group = [(self.addresses[n].index, self.addresses[n].size, n) for n in names
                     if self.addresses[n].area == area]
            for start, members in runs(group):
                end = max(self.addresses[n].index + self.addresses[n].size for n in members)
                method = {"coil": "read_coils", "di": "read_discrete_inputs", "hr": "read_holding_registers",
                          "ir": "read_input_registers"}[area]
                reply = self._call([(n, None) for n in members], method, start, count=end - start)
                data = reply.bits if area in _BITS else reply.registers
                if data is None or len(data) < end - start:  # a broken or confused server: never guess values
                    raise LinkError(f"{self.endpoint}: {method} of {end - start} at {start} for "
                                    f"{', '.join(self.describe(n) for n in members)} came back with "
                                    f"{0 if data is None else len(data)}; the server does not speak Modbus "
                                    "correctly (check that host/port is the PLC)", connection_lost=True)
                for n in members:
                    a = self.addresses[n]
                    values[n] = a.decode(data[a.index - start: a.index - start + a.size])
        return values

    def _call(self, members: Sequence[tuple[str, Any]], method: str, start: int, *args: Any, **kwargs: Any) -> Any:
        from pymodbus.exceptions import ModbusException

        signals = ", ".join(self.describe(n) for n, _ in members)
        if self._client is None:
            raise LinkError(f"{self.endpoint}: not connected", connection_lost=True)
        try:
            reply = getattr(self._client, method)(start, *args, device_id=self.options.unit_id, **kwargs)
        except ModbusException as exc:
            raise LinkError(f"{self.endpoint}: {method} of {signals} failed: {exc}", connection_lost=True) from None
        except OSError as exc:
            raise LinkError(f"{self.endpoint}: {method} of {signals}: {exc}", connection_lost=True) from None
        if reply.isError():
            code = getattr(reply, "exception_code", 0)
            action = ("fix the signal map or the PLC's Modbus register table" if code in (1, 2, 3) else
                      "the PLC (or gateway) reports a fault of its own: check its diagnostics")
            raise LinkError(f"{self.endpoint}: PLC refused {method} of {signals}: "
                            f"{_EXCEPTIONS.get(code, f'exception {code}')}; {action}")
        return reply


def create(options: Options, alarm: Callable[[str, str], None] | None = None,
           job_change: Callable[[int, str | None], None] | None = None, **_: object) -> PlcOutput:
    return PlcOutput(options, ModbusLink(options), alarm=alarm, job_change=job_change)


# --- plugin hooks (see inspection.adapters.entry_points) --------------------------------------------------------
DOCS = "docs/plc.md"
SIMULATOR_PORT = 5020

# A real modbus server standing in for the PLC (`station plc-sim --protocol modbus`).
# Named, not imported: the simulator imports this module (its address parser), never the other way.
simulator = "inspection.outputs.modbus_sim:ModbusSim"
