"""The CLI side of the adapter registry: option choices read from it, and `station adapters` listing it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from inspection.adapters.entry_points import PORTS, adapter_entries, find_hook, kinds_with_hook

__all__ = ["RegistryChoice", "adapters_command"]


class RegistryChoice(click.Choice):
    """`click.Choice` over the installed kinds of a port (optionally only those with `hook`), resolved when
    first needed, so `station --help` imports no adapter module and a plugin's kind shows up by itself."""

    def __init__(self, port: str, hook: str | None = None, *, exclude: Sequence[str] = ()) -> None:
        self.port, self.hook, self.exclude = port, hook, tuple(exclude)
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:  # not cached: cheap once the modules are imported
        kinds = kinds_with_hook(self.port, self.hook) if self.hook else tuple(sorted(adapter_entries()[self.port]))
        return tuple(k for k in kinds if k not in self.exclude)

    @choices.setter
    def choices(self, _value: Any) -> None:  # click.Choice.__init__ assigns it; the registry decides
        pass


_HOOKS = ("SIGNAL_MAP", "simulator", "export_from_onnx", "verify_backend")


@click.command("adapters")
@click.option("--port", type=click.Choice(PORTS), help="Only this port.")
def adapters_command(port: str | None) -> None:
    """List installed adapters (cameras, detectors/backends, PLC outputs, process ports, telemetry sinks):
    kind, module, the package that declared it, its hooks and docs. Plugins add theirs through the
    `inspection.adapters` entry-point group."""
    for name, kinds in adapter_entries().items():
        if port and name != port:
            continue
        click.secho(name, bold=True)
        for kind, entry in sorted(kinds.items()):
            hooks = [h for h in _HOOKS if find_hook(name, kind, h) is not None]
            docs = find_hook(name, kind, "DOCS")
            click.echo(f"  {kind:<14} {entry.module}  [{entry.distribution}]"
                       + (f"  hooks: {', '.join(hooks)}" if hooks else "") + (f"  docs: {docs}" if docs else ""))
