"""Pipeline benchmark: (a) plain ultralytics predict loop, (b) backend raw forward, (c) the full station,
(d) the peer: the same .pt exported by ultralytics itself (OpenVINO, ONNX) in a plain `predict` loop.

All of them run in ONE process on the same images and model, so their ratios are honest on a shared
machine (the absolute numbers move with the load of other processes; the ratios move much less).
(c) is the real station: replay camera → concurrent runtime → verdict → reject output → SQLite.
"""

from __future__ import annotations

import collections
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from inspection.demo import DEMO_DIR
from inspection.domain.images import IMAGE_SUFFIXES, image_files
from inspection.errors import DataError

__all__ = ["BenchResult", "Measurement", "ThreadCpu", "run_bench"]


class ThreadCpu:
    """CPU seconds of each thread of this process over a `with` block, by thread name (Linux /proc; sampled
    every `every_s`, so threads that end inside the block count, up to their last sample). Unnamed native
    threads (OpenVINO's workers, the infer thread's time inside them shows under `station-infer`) are summed
    as "native". One sample reads every thread's stat file (~0.5 ms of CPU with 40 threads, taken from the
    pipeline it measures): every 0.2 s costs 0.1 % of the machine, against 1.9 % at the former 50 ms."""

    def __init__(self, every_s: float = 0.2) -> None:
        self.every_s = every_s
        self.seconds: collections.Counter[str] = collections.Counter()
        self._names: dict[int, str] = {}
        self._latest: dict[int, tuple[str, float]] = {}
        self._done = threading.Event()

    @staticmethod
    def sample() -> dict[int, tuple[str, float]]:
        try:
            tids = os.listdir("/proc/self/task")
            tick = os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, AttributeError):  # not Linux: nothing to report
            return {}
        out = {}
        for tid in tids:
            try:  # os.read, not Path.read_text: half the CPU per sample
                fd = os.open(f"/proc/self/task/{tid}/stat", os.O_RDONLY)
                try:
                    stat = os.read(fd, 1024)
                finally:
                    os.close(fd)
            except OSError:  # ended meanwhile
                continue
            name_end = stat.rindex(b")")
            fields = stat[name_end + 2:].split()
            out[int(tid)] = (stat[stat.index(b"(") + 1:name_end].decode(errors="replace"),
                             (int(fields[11]) + int(fields[12])) / tick)
        return out

    def _watch(self) -> None:
        while not self._done.wait(self.every_s):
            self._poll()

    def _poll(self) -> None:
        self._names.update({t.native_id: t.name for t in threading.enumerate() if t.native_id})
        self._latest.update(self.sample())

    def __enter__(self) -> ThreadCpu:
        self._before = self.sample()
        self._watcher = threading.Thread(target=self._watch, name="bench-threadcpu", daemon=True)
        self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._watcher.join()
        self._poll()
        for tid, (name, seconds) in self._latest.items():
            label = self._names.get(tid, name)
            if label == "bench-threadcpu":
                continue
            label = label if label.startswith("station-") else "native"
            self.seconds[label] += seconds - self._before.get(tid, (name, 0.0))[1]

    def per_part_ms(self, parts: int) -> dict[str, float]:
        return {k: 1000.0 * v / max(parts, 1) for k, v in self.seconds.most_common() if v > 0}


@dataclass
class Measurement:
    name: str
    frames: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0  # process CPU time (all threads) spent on these frames

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000.0 * self.cpu_s / self.frames if self.frames else 0.0

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else 0.0

    def line(self) -> str:
        return (f"{self.name:<34} {self.fps:8.1f} fps   p50 {self.p(50):7.1f} ms   p99 {self.p(99):7.1f} ms   "
                f"cpu {self.cpu_ms_per_frame:6.1f} ms/frame   ({self.frames} frames)")


@dataclass
class BenchResult:
    model: str
    backend: str
    imgsz: int
    task: str
    images: int
    naive: Measurement
    raw: Measurement
    pipeline: Measurement
    sporadic: Measurement | None = None
    infer_p99_ms: float = 0.0
    export_lines: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # sporadic run, per stage p50/p99
    pipeline_stages: dict[str, dict[str, float]] = field(default_factory=dict)  # (c), per stage p50/p99
    peers: list[Measurement] = field(default_factory=list)  # (d) ultralytics' own exports, predict loop
    loaded: Measurement | None = None  # (c'') paced at 80 % of (c)'s rate, or at --loaded-rate
    idle_raw: Measurement | None = None  # (b') the raw forward at (c')'s trigger rate: idle, cold threads too
    pipeline_threads: dict[str, float] = field(default_factory=dict)  # (c), CPU ms per part by thread

    @property
    def peer(self) -> Measurement | None:
        """The fastest peer: what a user gets from ultralytics' own export in ten lines."""
        return max(self.peers, key=lambda m: m.fps, default=None)

    @property
    def pipeline_over_peer(self) -> float:
        peer = self.peer
        return self.pipeline.fps / peer.fps if peer is not None and peer.fps else 0.0

    @property
    def pipeline_over_naive(self) -> float:
        return self.pipeline.fps / self.naive.fps if self.naive.fps else 0.0

    @property
    def pipeline_over_raw(self) -> float:
        return self.pipeline.fps / self.raw.fps if self.raw.fps else 0.0

    @property
    def cpu_beyond_backend_ms(self) -> float:
        """What the station's own work costs per part: pipeline CPU minus the raw forward's, per frame."""
        return self.pipeline.cpu_ms_per_frame - self.raw.cpu_ms_per_frame

    def lines(self) -> list[str]:
        out = [f"model {self.model} ({self.task}), imgsz {self.imgsz}, backend {self.backend}, "
               f"{self.images} images", *self.export_lines,
               self.naive.line(), self.raw.line(), self.pipeline.line(), *(m.line() for m in self.peers)]
        if self.sporadic is not None:
            out.append(self.sporadic.line())
            out.append(f"{'frame→verdict p99 vs infer p99':<34} {self.sporadic.p(99):.1f} ms vs "
                       f"{self.infer_p99_ms:.1f} ms ({self.sporadic.p(99) - self.infer_p99_ms:+.1f} ms)")
            if self.idle_raw is not None:  # the same idle gaps before each forward: what the station adds
                out.append(self.idle_raw.line())
                out.append(f"{'… vs raw forward at that rate p99':<34} {self.sporadic.p(99):.1f} ms vs "
                           f"{self.idle_raw.p(99):.1f} ms ({self.sporadic.p(99) - self.idle_raw.p(99):+.1f} ms); p50 "
                           f"{self.sporadic.p(50):.1f} vs {self.idle_raw.p(50):.1f} ms")
        if self.loaded is not None:
            out.append(self.loaded.line())
            ratio = self.loaded.p(99) / self.infer_p99_ms if self.infer_p99_ms else 0.0
            out.append(f"{'under load: frame→verdict p50/p99':<34} {self.loaded.p(50):.1f}/{self.loaded.p(99):.1f} ms, "
                       f"p99 / raw-forward p99 = {ratio:.2f}")
        for label, stages in (("(c) stages", self.pipeline_stages), ("(c') stages", self.stages)):
            if stages:
                out.append(f"{label} p50/p99 ms: " + ", ".join(
                    f"{k} {v['p50']:.1f}/{v['p99']:.1f}" for k, v in stages.items()))
        if self.pipeline_threads:
            out.append("(c) cpu ms/part by thread: " + ", ".join(
                f"{k.removeprefix('station-')} {v:.2f}" for k, v in self.pipeline_threads.items()))
        if self.counters:
            out.append("pipeline counters: " + ", ".join(f"{k}={v}" for k, v in sorted(self.counters.items())))
        cpu = self.pipeline.cpu_ms_per_frame
        if cpu > 0:  # load-independent view: CPU time per frame (a shared machine skews wall-clock ratios)
            out.append(f"cpu-time ratios: naive/pipeline = {self.naive.cpu_ms_per_frame / cpu:.2f}, "
                       f"raw/pipeline = {self.raw.cpu_ms_per_frame / cpu:.2f}")
            out.append(f"station cpu beyond the backend = {self.cpu_beyond_backend_ms:.1f} ms/part "
                       "((c) minus (b) CPU per frame)")
        out.append(f"pipeline/naive = {self.pipeline_over_naive:.2f}")
        if self.peers:
            out.append(f"pipeline/peer = {self.pipeline_over_peer:.2f}")
        out.append(f"pipeline/raw = {self.pipeline_over_raw:.2f}")
        return out


def _sporadic_rate(raw: Measurement) -> float:
    """Triggers far apart (3x the slowest raw forward, at most 5 Hz): every part meets an idle pipeline."""
    return min(5.0, 1000.0 / (3.0 * max(raw.p(99), 1.0)))


def _timed_loop(name: str, frames: int, step: Callable[[int], object], rate_hz: float | None = None) -> Measurement:
    """`step(i)` for each frame, each call timed; with `rate_hz` one call per tick (the idle gap is not timed)."""
    latencies = []
    cpu0, started = time.process_time(), time.perf_counter()
    for i in range(frames):
        if rate_hz:
            time.sleep(max(0.0, started + i / rate_hz - time.perf_counter()))
        t0 = time.perf_counter()
        step(i)
        latencies.append((time.perf_counter() - t0) * 1000.0)
    return Measurement(name, frames, time.perf_counter() - started, latencies, time.process_time() - cpu0)


def _image_files(folder: Path) -> list[Path]:
    files = image_files(folder, recursive=True)
    if not files:
        raise DataError(f"{folder}: no images to benchmark on")
    return files


def default_inputs(work: Path) -> tuple[Path, Path]:
    """The bundled demo model and parts; an untrained yolov8n and synthetic parts while they are absent."""
    model = DEMO_DIR / "models" / "solder_yolov8n.pt"
    parts = DEMO_DIR / "parts" / "solder"
    if not model.is_file():
        from training.testing import untrained_yolo

        # Inactive head: like a trained model on good parts, it reports (almost) nothing.
        model = untrained_yolo(work / "untrained_yolov8n.pt", active=False)
    if not parts.is_dir() or not any(p.suffix.lower() in IMAGE_SUFFIXES for p in parts.iterdir()):
        import cv2

        parts = work / "parts"
        parts.mkdir(exist_ok=True)
        rng = np.random.default_rng(0)
        for i in range(32):
            cv2.imwrite(str(parts / f"part{i:03d}.png"), rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    return model, parts


def run_bench(model: Path | None = None, images: Path | None = None, imgsz: int | None = None,
              backend: str = "openvino", frames: int = 100, sporadic: int = 20, precision: str = "auto",
              echo: Callable[[str], None] = print, int8: bool = False,
              peers: tuple[str, ...] = ("openvino", "onnx"), loaded: int = 100,
              store: dict[str, Any] | None = None, detector: dict[str, Any] | None = None,
              loaded_rate: float | None = None) -> BenchResult:
    """`detector`: options of (b) and (c) beyond kind/model/precision (`--set` of `station bench`).
    `loaded_rate`: the rate of (c'') in parts/s instead of 80 % of (c)'s (to compare two runs at one rate)."""
    from inspection.inference.offline import ensure_offline

    ensure_offline()
    import torch

    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="station-bench-"))
    try:
        if model is None or images is None:
            default_model, default_parts = default_inputs(work)
            model, images = model or default_model, images or default_parts
        return _bench(Path(model), Path(images), imgsz, backend, frames, sporadic, precision, work, echo, int8,
                      peers, loaded, store or {}, detector or {}, loaded_rate)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench(model: Path, images: Path, imgsz: int | None, backend: str, frames: int, sporadic: int,
           precision: str, work: Path, echo: Callable[[str], None], int8: bool = False,
           peers: tuple[str, ...] = (), loaded: int = 0, store: dict[str, Any] | None = None,
           settings: dict[str, Any] | None = None, loaded_rate: float | None = None) -> BenchResult:
    import cv2

    from inspection.inference.torch_runtime import load_yolo
    from training.export import default_out, export_model

    files = _image_files(images)
    yolo = load_yolo(model)
    from inspection.inference.torch_runtime import _trained_imgsz

    size = imgsz or _trained_imgsz(yolo) or 640
    fmt = backend  # any export format (`station adapters`: detectors with an export_from_onnx hook)
    echo(f"exporting {model.name} to {fmt} at imgsz {size} …")
    exported = export_model(model, fmt, imgsz=size, out=default_out(work / "model.pt", fmt),
                            samples=images if not int8 else None, max_images=4, int8=int8,
                            calibration=images if int8 else None,
                            dynamic=int((settings or {}).get("batch", 0)) > 1)  # --set batch=N needs a variable batch
    if int8 and exported.int8_path is not None:  # accepted by the golden-set gate: benchmark the INT8 model
        exported.path = exported.int8_path
    decoded = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files]

    # (a) what a user writes first: model.predict on each image file.
    for _ in range(3):
        yolo.predict(str(files[0]), imgsz=size, verbose=False, save=False)
    echo("(a) ultralytics predict loop …")
    naive = _timed_loop("(a) ultralytics model.predict", frames, lambda i: yolo.predict(
        str(files[i % len(files)]), imgsz=size, verbose=False, save=False))

    # (d) the peer: ultralytics' own export of the same .pt, in the same plain predict loop.
    peer_rows = [_peer_loop(model, peer_fmt, size, str(yolo.task), files, frames, work, echo) for peer_fmt in peers]

    # (b) the backend alone: network forward on a ready tensor, nothing else.
    from inspection.adapters.registry import adapter_module
    from inspection.inference.yolo_detector import YoloDetector

    module = adapter_module("detector", fmt)
    detector_options = _detector_options(fmt, precision, settings)
    options = module.Options(kind=fmt, model=exported.path, **detector_options)
    detector: YoloDetector = module.create(options)
    try:
        from inspection.domain.types import Frame

        prepared = detector.prepare(Frame(decoded[0], "bench", 0, 0.0))  # the input exactly as the station feeds it
        tensor = prepared.inputs[0][None]
        for _ in range(5):
            detector.backend.forward(tensor)
        echo("(b) backend raw forward …")
        raw = _timed_loop(f"(b) {fmt} raw forward", frames, lambda i: detector.backend.forward(tensor))
        idle_raw = None
        if sporadic:
            rate = _sporadic_rate(raw)
            echo(f"(b') backend raw forward at {rate:.1f} Hz (idle gaps, as (c')) …")
            idle_raw = _timed_loop(f"(b') {fmt} raw forward, {rate:.1f} Hz", sporadic,
                                   lambda i: detector.backend.forward(tensor), rate)
        precision_used = str(getattr(detector.backend, "precision", "f32")).replace("<Type: '", "").strip("'>")
    finally:
        detector.close()

    # (c) the station: replay → concurrent runtime → verdict → SQLite.
    echo("(c) full station pipeline …")
    pipeline, counters, pipeline_stages, pipeline_threads = _station_run(
        work, model, exported.path, images, fmt, detector_options, frames, None, store)
    spor, stages = None, {}
    if sporadic:
        rate = _sporadic_rate(raw)
        echo(f"(c') sporadic triggers ({rate:.1f} Hz, idle gaps between parts) …")
        spor, _, stages, _ = _station_run(work, model, exported.path, images, fmt, detector_options, sporadic, rate,
                                       store)
        spor.name = f"(c') pipeline, {rate:.1f} Hz triggers"
    load = None
    if loaded and pipeline.fps > 0:
        # 80 % of the measured max rate: a healthy station keeps up without a queue building.
        rate = loaded_rate or 0.8 * pipeline.fps
        share = f"{100 * rate / pipeline.fps:.0f} %"
        echo(f"(c'') paced triggers at {rate:.1f} Hz ({share} of (c)) …")
        load, _, _, _ = _station_run(work, model, exported.path, images, fmt, detector_options, loaded, rate, store)
        load.name = f"(c'') pipeline, {rate:.1f} Hz ({share})"
    if int8:
        precision_used = "int8" if exported.int8_path is not None else f"{precision_used}; INT8 rejected"
    return BenchResult(model.name, f"{fmt} ({precision_used})", size, str(yolo.task), len(files), naive, raw,
                       pipeline, spor, raw.p(99), exported.lines()[1:], counters, stages,
                       pipeline_stages, peer_rows, load, idle_raw, pipeline_threads)


def _peer_loop(model: Path, fmt: str, size: int, task: str, files: list[Path], frames: int, work: Path,
               echo: Callable[[str], None]) -> Measurement:
    """(d): `YOLO(pt).export(format=fmt)` then `YOLO(exported).predict(file)` per image, as a user would."""
    from ultralytics import YOLO

    folder = work / f"peer_{fmt}"
    folder.mkdir(exist_ok=True)
    copy = folder / model.name  # ultralytics writes its export beside the .pt: keep it in the temp dir
    shutil.copy2(model, copy)
    echo(f"(d) ultralytics export to {fmt} …")
    # The user's defaults, except no graph simplifier for ONNX (onnxslim is not a station dependency).
    extra = {"simplify": False} if fmt == "onnx" else {}
    exported = YOLO(str(copy)).export(format=fmt, imgsz=size, half=False, int8=False, dynamic=False,
                                      verbose=False, **extra)
    peer = YOLO(str(exported), task=task)
    for _ in range(3):
        peer.predict(str(files[0]), imgsz=size, verbose=False, save=False)
    echo(f"(d) ultralytics {fmt} export, predict loop …")
    return _timed_loop(f"(d) ultralytics {fmt} export", frames, lambda i: peer.predict(
        str(files[i % len(files)]), imgsz=size, verbose=False, save=False))


def _detector_options(fmt: str, precision: str, settings: dict[str, Any] | None) -> dict[str, Any]:
    return {**({"precision": precision} if fmt == "openvino" else {}), **(settings or {})}


def _station_run(work: Path, model: Path, exported: Path, images: Path, fmt: str, options: dict[str, Any],
                 frames: int, rate_hz: float | None, store: dict[str, Any] | None = None,
                 ) -> tuple[Measurement, dict[str, int], dict[str, dict[str, float]], dict[str, float]]:
    from inspection.config import load_station_config
    from inspection.runtime.pipeline import Station

    recipe = work / "bench_recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "bench", "model": str(model), "deadline_ms": 60000.0}))
    detector: dict[str, Any] = {"kind": fmt, "model": str(exported), **options}
    camera: dict[str, Any] = {"kind": "replay", "id": "cam0", "path": str(images), "loop": True,
                              "max_parts": frames}
    if rate_hz:
        camera["rate_hz"] = rate_hz
    config_path = work / f"bench_station_{rate_hz or 0}.yaml"
    config_path.write_text(yaml.safe_dump({
        "name": "bench", "data_dir": str(work / "data"), "recipe": str(recipe), "cameras": [camera],
        "detector": detector, "store": store or {}}))  # default: the station's own (failures archived)
    config = load_station_config(config_path)
    with Station(config, db_path=work / f"bench_{rate_hz or 0}.db") as station:
        station.warmup()
        cpu0 = time.process_time()
        with ThreadCpu() as threads:
            summary = station.run()
        cpu_s = time.process_time() - cpu0
    counters = {k: v for k, v in summary.stage_stats.get("counters", {}).items() if not k.startswith("verdict:")}
    stages = summary.stage_stats.get("stages_ms", {})
    return (Measurement("(c) station pipeline → SQLite", summary.parts, summary.elapsed_s,
                        list(summary.latencies_ms), cpu_s), counters, stages, threads.per_part_ms(summary.parts))
