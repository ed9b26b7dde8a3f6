"""The live demo: the bundled parts looping at line rate, a PLC and the process in this process.

`station` / `station demo` (the console) and `station demo --headless --loop` run this, so every tab has
something real to show: verdicts go to a Modbus TCP PLC simulator on 127.0.0.1 (the real pymodbus
server, through the real supervisor: heartbeat, handshake, reject bits), and the controller steers the
process twin from the defect rates it sees. `--once` keeps the finite run of the plain demo YAML.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from inspection.config import StationConfig, deep_merge, load_station_config, read_yaml
from inspection.demo import demo_config_path

__all__ = ["PROCESS_PRODUCTS", "LiveDemo", "live_demo", "live_overrides"]

PROCESS_PRODUCTS = ("solder", "paint")
"""Products the process twin simulates (the board demo has no upstream process model)."""


def live_overrides(product: str, loop: bool = True, plc_port: int | None = None,
                   process: bool = True) -> dict[str, Any]:
    """What the live demo changes in the bundled YAML: looping cameras, the PLC, the process twin."""
    raw = read_yaml(demo_config_path(product))
    cameras = [dict(c, loop=True) if loop and c.get("kind") == "replay" else dict(c) for c in raw["cameras"]]
    overrides: dict[str, Any] = {"cameras": cameras}
    if plc_port is not None:
        # The simulator shares this process (and its GIL) with inference: give its requests room on a busy
        # PC, where the 0.5 s default made a slow answer look like a lost PLC.
        overrides["output"] = {"kind": "modbus", "host": "127.0.0.1", "port": plc_port, "timeout_s": 3.0,
                               "connect_timeout_s": 5.0}
    if process and product in PROCESS_PRODUCTS:
        overrides["process"] = {"port": {"kind": "twin", "process": product}, "process": product}
    return overrides


@dataclass(frozen=True, slots=True)
class LiveDemo:
    config: StationConfig
    plc: Any  # inspection.outputs.plc_sim.ModbusSim, or None without the PLC


@contextmanager
def live_demo(product: str = "solder", loop: bool = True, plc: bool = True, process: bool = True,
              overrides: dict[str, Any] | None = None) -> Iterator[LiveDemo]:
    """The demo's config with its peers running; the PLC simulator stops when the block ends."""
    sim = None
    if plc:
        from inspection.outputs.modbus_sim import ModbusSim

        sim = ModbusSim().start()
    try:
        changes = live_overrides(product, loop, sim.port if sim else None, process)
        yield LiveDemo(load_station_config(demo_config_path(product), deep_merge(changes, overrides or {})), sim)
    finally:
        if sim is not None:
            sim.stop()
