"""Camera acquisition: the genicam adapter versus harvesters' own plain fetch loop, same run, same device.

    .venv/bin/python bench/bench_camera.py [--seconds 3] [--rounds 2]

viky.cti (from the genicam wheel) at 800x600, AcquisitionFrameRate 200 (its maximum), Mono8 and
RGBa8. For each: frames per second delivered, CPU time of the whole process per frame, and frames
dropped (frame-id gaps, plus frames the adapter's queue discarded). The baseline only touches the
buffer's numpy view (no copy, no conversion); the adapter copies and converts every frame (Mono8 →
mono8, RGBa8 → bgr8) on its grab thread and hands it over through its queue. Rounds alternate
baseline/adapter so that load from other processes hits both alike; rates are pooled over rounds
(total frames / total time) and the per-round ratios are printed to show the spread.
Results go in docs/benchmarks.md, "Camera acquisition".
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import genicam

from inspection.camera.genicam import Options, create
from inspection.domain.types import Frame

VIKY = Path(genicam.__file__).parent / "viky.cti"
WIDTH, HEIGHT, RATE = 800, 600, 200.0


@dataclass
class Result:
    fps: float
    cpu_ms_per_frame: float
    dropped: int
    frames: int
    elapsed_s: float


def plain_harvesters(pixel_format: str, seconds: float) -> Result:
    """The baseline: harvesters' documented loop, `with ia.fetch(timeout=…) as buffer:`."""
    from harvesters.core import Harvester

    with Harvester() as harvester:
        harvester.add_file(str(VIKY))
        harvester.update()
        ia = harvester.create({"serial_number": "0"})
        nm = ia.remote_device.node_map
        nm.PixelFormat.value, nm.Width.value, nm.Height.value = pixel_format, WIDTH, HEIGHT
        nm.AcquisitionFrameRate.value = RATE
        ia.start()
        _drain(lambda: ia.fetch(timeout=1.0), 0.3)
        frames, dropped, last_id = 0, 0, None
        cpu0, t0 = time.process_time(), time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            with ia.fetch(timeout=1.0) as buffer:
                _ = buffer.payload.components[0].data
                frame_id = buffer.module.frame_id
            dropped += max(0, frame_id - last_id - 1) if last_id is not None else 0
            last_id = frame_id
            frames += 1
        cpu = time.process_time() - cpu0
        ia.stop()
        ia.destroy()
    return Result(frames / elapsed, 1000.0 * cpu / frames, dropped, frames, elapsed)


def adapter(pixel_format: str, seconds: float) -> Result:
    output = "mono8" if pixel_format == "Mono8" else "bgr8"
    options = Options(producers=[str(VIKY)], device={"serial": "0"}, pixel_format=pixel_format, width=WIDTH,
                      height=HEIGHT, frame_rate_hz=RATE, output=output)
    with create(options) as camera:
        deadline = time.perf_counter() + 0.3
        while time.perf_counter() < deadline:
            camera.read(1.0)
        before = camera.counters
        frames = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            if isinstance(camera.read(1.0), Frame):
                frames += 1
        cpu = time.process_time() - cpu0
        after = camera.counters
    return Result(frames / elapsed, 1000.0 * cpu / frames, after.dropped - before.dropped, frames, elapsed)


def _drain(fetch: object, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with fetch() as _:  # type: ignore[operator]
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating baseline/adapter rounds")
    args = parser.parse_args()
    print(f"viky {WIDTH}x{HEIGHT} @ AcquisitionFrameRate {RATE:g}; {args.rounds} rounds x {args.seconds:g} s; "
          f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'format':<7} {'loop':<18} {'fps':>7} {'cpu ms/frame':>13} {'dropped':>8} {'frames':>7}")
    for pixel_format in ("Mono8", "RGBa8"):
        runs: dict[str, list[Result]] = {"harvesters fetch": [], "genicam adapter": []}
        for _ in range(args.rounds):
            runs["harvesters fetch"].append(plain_harvesters(pixel_format, args.seconds))
            runs["genicam adapter"].append(adapter(pixel_format, args.seconds))
        for name, results in runs.items():
            frames = sum(r.frames for r in results)
            fps = frames / sum(r.elapsed_s for r in results)
            cpu = sum(r.cpu_ms_per_frame * r.frames for r in results) / frames
            dropped = sum(r.dropped for r in results)
            print(f"{pixel_format:<7} {name:<18} {fps:7.1f} {cpu:13.3f} {dropped:8d} {frames:7d}")
        pooled = {name: sum(r.frames for r in rs) / sum(r.elapsed_s for r in rs) for name, rs in runs.items()}
        ratio = pooled["genicam adapter"] / pooled["harvesters fetch"]
        per_round = [round(a.fps / b.fps, 2) for a, b in zip(runs["genicam adapter"], runs["harvesters fetch"],
                                                                strict=True)]
        print(f"{pixel_format:<7} ratio adapter/harvesters fps = {ratio:.3f} (goal >= 0.95); per round {per_round}, "
              f"median {statistics.median(per_round):.2f}")

if __name__ == "__main__":
    main()
