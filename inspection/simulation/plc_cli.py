"""`station plc-sim`: a PLC stand-in on 127.0.0.1 that prints what the station writes to it.

Integrators point a station at it to check the signal map without a PLC:

    station plc-sim --protocol modbus --port 5020
    station run -c station.yaml        # with output: {kind: modbus, port: 5020}
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import click

from inspection.adapters.cli import RegistryChoice
from inspection.adapters.entry_points import find_hook
from inspection.outputs.link import Value
from inspection.outputs.plc_sim import PlcSim, make_sim
from inspection.outputs.signal_map import default_map, load_signal_map

__all__ = ["plc_sim"]


class _Printer:
    """Prints each write as the signals that changed; acts as the PLC for ack and heartbeat if asked."""

    def __init__(self, sim: PlcSim, show_heartbeat: bool, auto_ack: bool) -> None:
        self.sim = sim
        self.show_heartbeat = show_heartbeat
        self.auto_ack = auto_ack
        self.last: dict[str, Value] = {}
        self.pending: list[tuple[str, Value]] = []  # PLC-side writes, done off the server's thread
        self.lock = threading.Lock()

    def __call__(self, _t: float, values: dict[str, Value]) -> None:
        changed = {k: v for k, v in values.items() if self.last.get(k) != v}
        self.last.update(values)
        if not self.show_heartbeat:
            changed.pop("outputs.heartbeat", None)
        if changed:
            text = "  ".join(f"{k.removeprefix('outputs.')}={v!r}" for k, v in changed.items())
            click.echo(f"{time.strftime('%H:%M:%S')}  {text}")
        if self.auto_ack and "outputs.result_valid" in changed:
            with self.lock:
                self.pending.append(("inputs.result_ack", bool(changed["outputs.result_valid"])))

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, []
        for name, value in pending:
            if name in self.sim.smap.signals():
                self.sim.write(name, value)


@click.command("plc-sim")
@click.option("--protocol", type=RegistryChoice("output", hook="simulator"), required=True,
              help="Which PLC to simulate (every installed output adapter with a simulator).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535),
              help="TCP port (default: the protocol's: modbus 5020, s7 1102, opcua 4840…).")
@click.option("--map", "map_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Signal-map YAML (default: the bundled map of the protocol).")
@click.option("--plc-heartbeat-s", type=click.FloatRange(min=0.0), default=0.5, show_default=True,
              help="Increment inputs.heartbeat this often, like a running PLC program (0 = never).")
@click.option("--auto-ack/--no-auto-ack", default=True, show_default=True,
              help="Answer result_valid with result_ack, like a PLC program.")
@click.option("--show-heartbeat", is_flag=True, help="Also print every station heartbeat.")
@click.option("--duration-s", type=click.FloatRange(min=0.0), help="Stop after this long (default: until Ctrl-C).")
def plc_sim(protocol: str, host: str, port: int | None, map_path: Path | None, plc_heartbeat_s: float,
            auto_ack: bool, show_heartbeat: bool, duration_s: float | None) -> None:
    """Run a PLC simulator (a real Modbus TCP / S7 / OPC UA… server) and print what the station writes."""
    smap = load_signal_map(map_path) if map_path else default_map(protocol)
    sim = make_sim(protocol, smap, host, port or find_hook("output", protocol, "SIMULATOR_PORT") or 0)
    printer = _Printer(sim, show_heartbeat, auto_ack)
    sim.hooks.append(printer)
    with sim:
        click.echo(f"{protocol} PLC simulator on {host}:{sim.port} ({len(smap.signals())} signals"
                   f"{', map ' + str(map_path) if map_path else ', bundled map'}); Ctrl-C to stop")
        if protocol == "opcua":
            click.echo("  SecurityPolicy None: connect the station with output security: {allow_insecure: true}")
        for name, address in smap.signals().items():
            click.echo(f"  {name:<28} {address}")
        end = None if duration_s is None else time.monotonic() + duration_s
        beat, next_beat = 0, time.monotonic()
        try:
            while end is None or time.monotonic() < end:
                printer.flush()
                if plc_heartbeat_s > 0 and time.monotonic() >= next_beat and "inputs.heartbeat" in smap.signals():
                    beat = (beat + 1) & 0x7FFF
                    sim.write("inputs.heartbeat", beat)
                    next_beat = time.monotonic() + plc_heartbeat_s
                time.sleep(0.01)
        except KeyboardInterrupt:
            pass
        click.echo(f"stopped after {sim.writes} writes")
