"""Generate the configuration reference (docs/configuration.md) from the pydantic models themselves,
so the documentation cannot drift from what the station accepts. `station config-reference` prints it."""

from __future__ import annotations

import importlib
import types
import typing
from typing import Any

import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from inspection.adapters.registry import ADAPTERS
from inspection.config import StationConfig, StoreConfig
from inspection.domain.recipe import ClassRule, Recipe, RegionOfInterest

__all__ = ["config_reference", "reference_command"]

HIDDEN_FIELDS = {"source_file"}


def _type_name(annotation: Any) -> str:
    """Readable type: `float | empty`, `'all' \\| 'failures'`, `path`, `list of camera`…"""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "empty"
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a!r}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {_type_name(args[0])} → {_type_name(args[1])}" if args else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"`{annotation.__name__}`"
    return getattr(annotation, "__name__", str(annotation)).replace("Path", "path")


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _nested_models(a)]


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    if field.default_factory is not None:
        return "(computed)"
    value = field.default
    if isinstance(value, BaseModel):
        return "(see below)"
    return f"`{value!r}`" if value is not None else "empty"


def _table(model: type[BaseModel], title: str, intro: str = "") -> list[str]:
    lines = [f"### {title}", ""]
    if intro:
        lines += [intro, ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in HIDDEN_FIELDS:
            continue
        lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {field.description or ''} |")
    lines.append("")
    for name, field in model.model_fields.items():
        for nested in _nested_models(field.annotation):
            if nested.__name__ not in ("AdapterOptions", "StoreConfig", "ClassRule", "RegionOfInterest"):
                lines += _table(nested, f"{title} → `{name}` (`{nested.__name__}`)")
    return lines


def config_reference() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the station's own schema by `station config-reference`; a test keeps this file in step.",
        "Unknown keys are errors. Relative paths are relative to the file that names them; `~` and `$VARS` expand.",
        "",
        "## Station YAML",
        "",
    ]
    lines += _table(StationConfig, "top level")
    lines += _table(StoreConfig, "store")
    for port, kinds in ADAPTERS.items():
        for kind, module_name in sorted(kinds.items()):
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                lines += [f"### {port}: `kind: {kind}`", "", f"(needs a package that is not installed: {exc.name})", ""]
                continue
            doc = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
            lines += _table(module.Options, f"{port}: `kind: {kind}`", doc)
    lines += ["## Recipe YAML", ""]
    lines += _table(Recipe, "recipe")
    lines += _table(ClassRule, "class rule (`default:` and each entry of `classes:`)")
    lines += _table(RegionOfInterest, "roi")
    return "\n".join(lines).rstrip() + "\n"


@click.command("config-reference")
def reference_command() -> None:
    """Print the configuration reference (every key of the station and recipe YAML) as Markdown."""
    click.echo(config_reference(), nl=False)
