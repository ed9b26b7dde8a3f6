"""PLC output latency: verdict → value visible in the PLC server, per protocol, on loopback.

For each protocol a real server runs in a child process, as a PLC is another machine (pymodbus / snap7 /
asyncua, the `station plc-sim` simulators), and the station's reject output (default signal map, default
options: heartbeat and PLC-input polling on) publishes N verdicts one after another. The clock
(CLOCK_MONOTONIC, shared by both processes) starts when `publish()` is called and stops when the server
has stored the write that carries `result_valid` (the last piece of a result, so the whole result is
visible to the PLC program). Baseline, same run: a bare library write of one register/word/node to the
same server (what the protocol and this host cost without the station).

    .venv/bin/python bench/bench_plc.py --parts 10000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.outputs import modbus, opcua, s7
from inspection.outputs.modbus_sim import ModbusSim
from inspection.outputs.opcua_sim import OpcUaSim
from inspection.outputs.plc_sim import PlcSim, make_sim
from inspection.outputs.s7_sim import S7Sim

IMAGE = np.zeros((8, 8), np.uint8)


def parts(n: int) -> list[Inspection]:
    defect = (Detection("bridge", 0.9, Box(0, 0, 2, 2), class_id=1),)
    out = []
    for i in range(n):
        bad = i % 7 == 0
        verdict = Verdict(VerdictStatus.FAIL, (Reason("defect", "bridge"),)) if bad else Verdict.passed()
        out.append(Inspection(Frame(IMAGE, "cam0", i, time.time(), part_id=str(100000 + i)),
                              defect if bad else (), verdict, defect if bad else ()))
    return out


def serve(protocol: str, conn: Any) -> None:
    """Child process: run the PLC simulator, timestamp every completed result, report at the end."""
    seen: dict[int, float] = {}  # result sequence number → when its result_valid landed

    def hook(t: float, values: dict[str, Any]) -> None:
        if values.get("outputs.result_valid") is True and "outputs.sequence" in values:
            seen.setdefault(int(values["outputs.sequence"]), t)

    with make_sim(protocol) as sim:
        sim.hooks.append(hook)
        conn.send(sim.port)
        conn.recv()  # "done": the station finished publishing
        conn.send(seen)
        conn.recv()  # "stop": the baseline writes are done too


def measure(port: int, module: Any, items: list[Inspection], conn: Any) -> np.ndarray:
    started = np.empty(len(items))
    # The simulators offer SecurityPolicy None only; the OPC UA client must be told so explicitly.
    extra: dict[str, Any] = {"security": {"allow_insecure": True}} if module is opcua else {}
    with module.create(module.Options(port=port, **extra)) as output:
        if not output.connected:
            raise SystemExit(f"cannot connect: {output.last_error}")
        for i, item in enumerate(items):
            started[i] = time.perf_counter()
            output.publish(item)
        time.sleep(0.2)  # let the last server-side timestamps land
    conn.send("done")
    landed = conn.recv()
    if sorted(landed) != list(range(1, len(items) + 1)):
        raise SystemExit(f"the server saw {len(landed)} results for {len(items)} verdicts")
    return (np.asarray([landed[i + 1] for i in range(len(items))]) - started) * 1000.0


def baseline_modbus(sim: ModbusSim, n: int) -> list[float]:
    from pymodbus.client import ModbusTcpClient

    client = ModbusTcpClient("127.0.0.1", port=sim.port, timeout=1.0, retries=0)  # sim: anything with .port
    client.connect()
    out = [_timed(lambda i=i: client.write_register(0, i & 0xFFFF, device_id=1)) for i in range(n)]
    client.close()
    return out


def baseline_s7(sim: S7Sim, n: int) -> list[float]:
    import snap7

    client = snap7.Client()
    client.connect("127.0.0.1", 0, 1, sim.port)
    out = [_timed(lambda i=i: client.db_write(100, 0, bytearray((i & 0xFFFF).to_bytes(2, "big")))) for i in range(n)]
    client.disconnect()
    return out


def baseline_opcua(sim: OpcUaSim, n: int) -> list[float]:
    from asyncua import Client, ua

    async def run() -> list[float]:
        async with Client(f"opc.tcp://127.0.0.1:{sim.port}/") as client:
            node = client.get_node("ns=2;s=Station.Result.Code")
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                await node.write_value(ua.Variant(i, ua.VariantType.Int32))
                times.append((time.perf_counter() - t0) * 1000.0)
            return times

    return asyncio.run(run())


def _timed(action: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    action()
    return (time.perf_counter() - t0) * 1000.0


class _Port:
    def __init__(self, port: int) -> None:
        self.port = port


PROTOCOLS: dict[str, tuple[type[PlcSim], Any, Callable[[Any, int], list[float]]]] = {
    "modbus": (ModbusSim, modbus, baseline_modbus),
    "s7": (S7Sim, s7, baseline_s7),
    "opcua": (OpcUaSim, opcua, baseline_opcua),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=10000)
    parser.add_argument("--baseline-writes", type=int, default=2000)
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=list(PROTOCOLS))
    args = parser.parse_args()
    items = parts(args.parts)
    print(f"{'protocol':<8} {'parts':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'bare p50':>9} "
          f"{'bare p99':>9} {'p50 ratio':>10} {'p99 ratio':>10}")
    context = mp.get_context("spawn")
    for name in args.protocols:
        _, module, baseline = PROTOCOLS[name]
        parent, child = context.Pipe()
        server = context.Process(target=serve, args=(name, child), daemon=True)
        server.start()
        try:
            port = parent.recv()
            lat = measure(port, module, items, parent)
            bare = np.asarray(baseline(_Port(port), args.baseline_writes))
            parent.send("stop")
        finally:
            server.join(timeout=10.0)
            if server.is_alive():
                server.kill()
        p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
        b50, b99 = np.percentile(bare, 50), np.percentile(bare, 99)
        print(f"{name:<8} {len(lat):>6} {p50:>8.3f} {p99:>8.3f} {lat.max():>8.2f} {b50:>9.3f} {b99:>9.3f} "
              f"{p50 / b50:>10.2f} {p99 / b99:>10.2f}")


if __name__ == "__main__":
    main()
