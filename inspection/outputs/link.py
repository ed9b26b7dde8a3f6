"""The low-level PLC link each protocol implements: connect, check the map, write and read named signals.

`PlcOutput` (supervisor.py) drives a link; it never sees a register or a node id. Signals are named as in
the signal map ('outputs.reject', 'inputs.trigger'), so every error names the signal and its address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from inspection.errors import OutputError

__all__ = ["LinkError", "PlcLink", "Value", "runs"]

Value = bool | int | str


class LinkError(OutputError):
    """A PLC read/write failed. `connection_lost` says whether the link must reconnect before the next try."""

    def __init__(self, message: str, *, connection_lost: bool = False) -> None:
        super().__init__(message)
        self.connection_lost = connection_lost


class PlcLink(Protocol):
    endpoint: str
    """Human-readable peer, e.g. 'Modbus TCP 127.0.0.1:5020 unit 1'."""

    def connect(self) -> None:
        """Open the connection (bounded by the link's connect timeout); LinkError when it fails."""
        ...

    def check(self) -> None:
        """Read every configured address once: a missing DB, an out-of-range register or a node of the
        wrong type is a LinkError naming the signal and the address."""
        ...

    def write(self, items: Sequence[tuple[str, Value]]) -> None:
        """Write signals in order; the last item (result_valid) lands last. LinkError on failure."""
        ...

    def read(self, names: Sequence[str]) -> dict[str, Value]: ...

    def describe(self, name: str) -> str:
        """'outputs.reject (coil:0)'."""
        ...

    def close(self) -> None: ...


T = TypeVar("T")


def is_integer_text(text: str) -> bool:
    """An ASCII whole number ("-12", "0042"): what may be written to a numeric PLC address. str.isdigit()
    alone also accepts "²" (int() refuses it) and "١٢" (int() reads it as 12 — a part id the operator never saw)."""
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit()


def runs(items: Iterable[tuple[int, int, T]]) -> list[tuple[int, list[T]]]:
    """Group (start, length, payload) items whose address ranges touch into runs, in address order.

    Returns (run start, payloads in address order). Used to turn many small writes into few requests.
    """
    ordered = sorted(items, key=lambda it: it[0])
    grouped: list[tuple[int, int, list[T]]] = []
    for start, length, payload in ordered:
        if grouped and start <= grouped[-1][1]:
            first, end, payloads = grouped[-1]
            grouped[-1] = (first, max(end, start + length), [*payloads, payload])
        else:
            grouped.append((start, start + length, [payload]))
    return [(first, payloads) for first, _, payloads in grouped]
