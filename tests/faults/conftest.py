"""The fault-injection suite's peers: a real exported detector, real replay folders, real SQLite files, a real
Modbus server on 127.0.0.1, small tmpfs mounts, and the bookkeeping every fault test asserts:

    parts in = verdicts out = rows logged (or the documented safe stop), in bounded time.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from inspection.config import StationConfig, load_station_config
from inspection.domain.types import Inspection
from inspection.outputs.signal_map import default_map, error_code
from inspection.runtime.pipeline import Station
from inspection.runtime.stats import RunSummary
from training.export import export_model
from training.testing import untrained_yolo

FAST_PLC = {"timeout_s": 0.3, "connect_timeout_s": 0.5, "heartbeat_period_s": 0.05, "poll_period_s": 0.005,
            "reconnect_backoff_s": 0.05, "reconnect_backoff_max_s": 0.2}


@pytest.fixture(scope="session")
def fault_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real untrained yolov8n exported to ONNX at 64 px (the recipe names the .pt; the ONNX sits beside it)."""
    folder = tmp_path_factory.mktemp("fault_models")
    pt = untrained_yolo(folder / "fault_det.pt", ("bridge", "solder_ball", "void"))
    export_model(pt, "onnx", imgsz=64, out=pt.with_suffix(".onnx"), max_images=1)
    return pt


def write_parts(folder: Path, count: int, start: int = 0, shape: tuple[int, int] = (48, 64)) -> Path:
    rng = np.random.default_rng(start)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        cv2.imwrite(str(folder / f"part_{i:04d}.png"), rng.integers(0, 255, (*shape, 3), dtype=np.uint8))
    return folder


@dataclass
class Run:
    """What one run left behind, read back from the real database."""

    summary: RunSummary
    seen: list[Inspection]
    rows: list[dict[str, Any]]
    events: list[dict[str, Any]]
    elapsed_s: float
    station: Station
    extra: dict[str, Any] = field(default_factory=dict)

    def codes(self) -> list[str]:
        return [json.loads(r["reasons"])[0]["code"] if r["verdict"] != "PASS" else "" for r in self.rows]

    def alarms(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind and e["level"] == "alarm"]

    def assert_accounted(self, parts: int) -> None:
        """Every part one verdict, every verdict one row, each sequence once."""
        assert self.summary.parts == parts == len(self.seen) == len(self.rows), (
            self.summary.parts, parts, len(self.seen), len(self.rows))
        keys = [r["part_key"] for r in self.rows]
        assert len(set(keys)) == len(keys), "a part was logged twice"
        assert self.summary.store_errors == 0


@pytest.fixture
def station_config(tmp_path: Path, fault_model: Path) -> Callable[..., StationConfig]:
    """station_config(parts=folder, **section overrides) → a loaded StationConfig around the real detector."""

    def make(parts: Path | None = None, camera: dict[str, Any] | None = None, store: dict[str, Any] | None = None,
             output: dict[str, Any] | None = None, recipe: dict[str, Any] | None = None,
             telemetry: list[dict[str, Any]] | None = None) -> StationConfig:
        parts = parts or write_parts(tmp_path / "parts", 8)
        recipe_data = {"name": "faults", "model": str(fault_model), "default": {"min_confidence": 0.9},
                       "deadline_ms": 20000.0, **(recipe or {})}
        (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe_data))
        config = {"name": "faults", "data_dir": str(tmp_path / "data"), "recipe": "recipe.yaml",
                  "cameras": [{"kind": "replay", "id": "cam0", "path": str(parts), **(camera or {})}],
                  "detector": {"kind": "onnx", "conf": 0.25}, "output": output or {"kind": "none"},
                  "store": {"keep_images": "none", **(store or {})}, "samples": {"enabled": False},
                  "telemetry": telemetry or []}
        path = tmp_path / "station.yaml"
        path.write_text(yaml.safe_dump(config))
        return load_station_config(path)

    return make


def run_station(config: StationConfig, prepare: Callable[[Station], None] | None = None,
                max_parts: int | None = None, during: Callable[[Station, list[Inspection]], None] | None = None,
                ) -> Run:
    """Open, optionally rig the station, run, and read back rows and events from a separate connection."""
    seen: list[Inspection] = []
    with Station(config) as station:
        station.runtime_options = station.runtime_options.__class__(
            **{**station.runtime_options.__dict__, "join_timeout_s": 5.0, "drain_timeout_s": 10.0})
        station.listeners.append(seen.append)
        if during is not None:
            station.listeners.append(lambda inspection: during(station, seen))
        station.warmup()
        if prepare is not None:
            prepare(station)
        t0 = time.monotonic()
        summary = station.run(max_parts=max_parts)
        elapsed = time.monotonic() - t0
        db_path = station.db_path
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("select * from inspections order by id")]
    events = [dict(r) for r in db.execute("select * from events order by id")]
    db.close()
    seen_in_order = sorted(seen, key=lambda i: i.frame.sequence)
    return Run(summary, seen_in_order, rows, events, elapsed, station)


def plc_error(inspection: Inspection) -> int:
    """What the bundled Modbus map writes to outputs.error_code for this verdict."""
    return error_code(default_map("modbus"), inspection)


def fill_up(path: Path, leave: int = 0) -> None:
    """Write `path` until its file system refuses, then give `leave` bytes back. Chunked: the free space
    measured first can shrink before one big write lands (the station writes meanwhile), and that write would
    then fail in the test instead of in the station."""
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as handle:
        try:
            while handle.write(chunk):
                pass
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        if leave:
            handle.truncate(max(handle.tell() - leave, 0))


@pytest.fixture
def tmpfs() -> Iterator[Callable[[Path, str], Path]]:
    """tmpfs(folder, size) mounts a small tmpfs (root only); skipped with the reason when mount is refused."""
    mounted: list[Path] = []

    def mount(folder: Path, size: str = "1m") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("needs root to mount a small tmpfs (archive/database full); not running as root")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"mount -t tmpfs refused here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True)
