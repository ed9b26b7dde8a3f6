"""Checks on what comes from outside: names that become paths, paths named by imported files, CSV cells.

Each function raises `DataError` (or returns the cleaned value) with a message that says what to fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from inspection.errors import DataError

__all__ = ["MAX_LOT_CHARS", "MAX_YAML_BYTES", "NAME_PATTERN", "check_lot", "check_name", "confined", "csv_cell",
           "load_yaml_text", "one_line", "truncate"]

# Product, station and user names end up in file names, SQL parameters and log lines: keep them plain.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def check_name(value: str, what: str) -> str:
    """A product/user/station name: 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value) or ".." in value:
        raise DataError(f"{what} name {truncate(repr(value), 80)}: use 1-64 letters, digits, '.', '_' or '-' "
                        "(starting with a letter or digit, no '..')")
    return value


def confined(root: Path, relative: str | Path, what: str) -> Path:
    """`root / relative`, resolved, refusing anything that lands outside `root` (../, absolute paths, links)."""
    base = Path(root).resolve()
    candidate = Path(relative)
    if candidate.is_absolute():
        raise DataError(f"{what}: absolute path {truncate(str(relative), 120)} refused; paths must be relative "
                        f"to {base}")
    resolved = (base / candidate).resolve()
    if not resolved.is_relative_to(base):
        raise DataError(f"{what}: {truncate(str(relative), 120)} points outside {base}; refused")
    return resolved


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127, *range(0x80, 0xA0))}
# Bidirectional overrides and isolates reorder what follows them: "ID\u202eSSAP" displays as "IDPASS".
_CONTROL.update({c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})
MAX_LOT_CHARS = 64


def one_line(text: str) -> str:
    """Text from a file name, a part id, a PLC or a device, made safe to show an operator: control and
    bidirectional-override characters (newlines, ANSI escapes, U+202E) shown as \\xNN / \\uNNNN, so such
    a text cannot forge a verdict line or turn "SSAP" into "PASS" on screen."""
    return text.translate(_CONTROL)


def check_lot(lot: str) -> str:
    """A lot name from a PLC or an MES: at most 64 characters, none that would forge a line or reorder text."""
    if len(lot) > MAX_LOT_CHARS:
        raise DataError(f"lot name of {len(lot)} characters; at most {MAX_LOT_CHARS}")
    if one_line(lot) != lot:
        raise DataError(f"lot name {truncate(one_line(lot), 80)} holds control characters")
    return lot


def csv_cell(value: object) -> object:
    """Neutralise a text cell a spreadsheet would run as a formula (CWE-1236): prefix it with a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def truncate(text: str, limit: int = 300) -> str:
    """At most `limit` characters of `text`, saying how much was cut (error messages stay readable)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


MAX_YAML_BYTES = 1 << 20  # a station/recipe/camera YAML is a few kB; 1 MiB is generous


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases: a few lines of nested aliases expand to gigabytes
    ("billion laughs"), and station files never need them."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in station files; write the values out",
                event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        """A key given twice is an editing mistake (YAML would silently keep the last one, e.g. a second
        `deadline_ms:` far down the recipe): refuse it with both lines."""
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = self.construct_scalar(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        f"in the mapping starting at line {node.start_mark.line + 1}", node.start_mark,
                        f"key {key!r} given twice (first at line {seen[key].line + 1}); remove one",
                        key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str) -> object:
    """`yaml.safe_load` without aliases and bounded in size (raises yaml.YAMLError / DataError)."""
    if len(text) > MAX_YAML_BYTES:
        raise DataError(f"YAML of {len(text)} characters: larger than the {MAX_YAML_BYTES} allowed for a "
                        "station file")
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass: no arbitrary objects
    except RecursionError:  # thousands of nested brackets
        raise DataError("YAML nested too deeply for a station file") from None
    except ValueError as exc:  # an integer of thousands of digits (Python's int-string limit)
        raise DataError(f"YAML value not accepted: {truncate(str(exc), 200)}") from None
