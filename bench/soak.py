"""Soak: many parts at line rate with the PLC simulator and telemetry on; does anything grow?

Runs one station in this process: replay on a loop at --rate-hz, the exported detector, the Modbus TCP
output against the in-process Modbus simulator on 127.0.0.1, MQTT telemetry to a local mosquitto (when the
binary is there), SQLite log with failure images archived. Once a second it samples RSS, open file
descriptors and threads against the number of parts done; at the end it fits a line (after a 10 % warm-up)
and prints the slope per 1 000 parts, and the verdict / row counts.

    .venv/bin/python bench/soak.py --parts 20000 --rate-hz 50     # ~7 min; numbers in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from inspection.config import load_station_config
from inspection.domain.types import Inspection
from inspection.outputs.modbus_sim import ModbusSim
from inspection.outputs.plc_sim import free_port
from inspection.runtime.pipeline import Station


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _mosquitto(folder: Path) -> tuple[subprocess.Popen[bytes] | None, int]:
    if shutil.which("mosquitto") is None:
        return None, 0
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return broker, port
        time.sleep(0.05)
    broker.kill()
    return None, 0


def slope_per_1000(parts: list[int], values: list[float]) -> float:
    start = max(1, len(parts) // 10)  # skip the warm-up: allocator and caches settle first
    if len(parts) - start < 3:
        return float("nan")
    return float(np.polyfit(np.asarray(parts[start:], float), np.asarray(values[start:], float), 1)[0] * 1000.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, default=20000)
    parser.add_argument("--rate-hz", type=float, default=50.0)
    parser.add_argument("--folder", type=Path, default=Path("runs/soak"))
    parser.add_argument("--model", type=Path, help="a .pt with its .onnx export beside it (default: built here)")
    args = parser.parse_args()
    folder = args.folder.resolve()
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "parts").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(16):
        cv2.imwrite(str(folder / "parts" / f"part_{i:04d}.png"), rng.integers(0, 255, (120, 160, 3), np.uint8))
    model = args.model
    if model is None:
        from training.export import export_model
        from training.testing import untrained_yolo

        model = untrained_yolo(folder / "soak.pt", ("bridge", "solder_ball", "void"))
        export_model(model, "onnx", imgsz=64, out=model.with_suffix(".onnx"), max_images=1)
    broker, mqtt_port = _mosquitto(folder)
    sim = ModbusSim().start()
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"name": "soak", "model": str(model), "deadline_ms": 2000.0,
                                                        "default": {"min_confidence": 0.9}}))
    config_data: dict[str, Any] = {
        "name": "soak", "data_dir": str(folder / "data"), "recipe": "recipe.yaml",
        "cameras": [{"kind": "replay", "id": "cam0", "path": str(folder / "parts"), "loop": True,
                     "rate_hz": args.rate_hz}],
        "detector": {"kind": "onnx"}, "output": {"kind": "modbus", "port": sim.port},
        "store": {"keep_images": "failures", "min_free_mb": 0}, "samples": {"enabled": False},
        "telemetry": [{"kind": "mqtt", "port": mqtt_port}] if broker is not None else []}
    (folder / "station.yaml").write_text(yaml.safe_dump(config_data))
    config = load_station_config(folder / "station.yaml")
    done = [0]
    samples: list[tuple[float, int, float, int, int]] = []
    stop = threading.Event()

    def count(_: Inspection) -> None:
        done[0] += 1

    def sample() -> None:
        t0 = time.monotonic()
        while not stop.wait(1.0):
            samples.append((time.monotonic() - t0, done[0], rss_mb(), open_files(), threading.active_count()))

    try:
        with Station(config) as station:
            station.listeners.append(count)
            station.warmup()
            sampler = threading.Thread(target=sample, name="soak-sampler", daemon=True)
            sampler.start()
            summary = station.run(max_parts=args.parts)
            stop.set()
            sampler.join(2)
            db = station.db_path
            undelivered = station.output.stats.undelivered  # type: ignore[union-attr]
    finally:
        sim.stop()
        if broker is not None:
            broker.kill()
    rows = sqlite3.connect(db).execute("select count(*) from inspections").fetchone()[0]
    parts = [s[1] for s in samples]
    result = {
        "parts": summary.parts, "rows": rows, "failsafe": summary.failsafe, "store_errors": summary.store_errors,
        "undelivered": undelivered, "fault": str(summary.fault) if summary.fault else None,
        "elapsed_s": round(summary.elapsed_s, 1), "fps": round(summary.fps, 1), "telemetry": broker is not None,
        "latency_p99_ms": round(summary.latency_percentile(99), 1),
        "rss_mb": [round(samples[0][2], 1), round(samples[-1][2], 1)] if samples else None,
        "open_files": [samples[0][3], samples[-1][3]] if samples else None,
        "threads": [samples[0][4], samples[-1][4]] if samples else None,
        "slope_per_1000_parts": {"rss_mb": round(slope_per_1000(parts, [s[2] for s in samples]), 3),
                                 "open_files": round(slope_per_1000(parts, [s[3] for s in samples]), 3),
                                 "threads": round(slope_per_1000(parts, [s[4] for s in samples]), 3)},
    }
    (folder / "soak.json").write_text(json.dumps({"result": result, "samples": samples}))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
