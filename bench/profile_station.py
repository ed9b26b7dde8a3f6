"""Profile one part: the real `Station` on the solder demo at 320 px (OpenVINO, default store).

    .venv/bin/python bench/profile_station.py WORK_DIR 2000 [DETECTOR_YAML]     # CPU per part by thread
    py-spy record -r 100 --format raw -o station.raw -- .venv/bin/python bench/profile_station.py WORK_DIR 150
    .venv/bin/python bench/profile_station.py --summarize station.raw

The first prints the CPU time of each thread per part (Linux /proc, sampled every 0.2 s, so threads that end
early count too; OpenVINO's own worker threads have no name: "native"), e.g. `'{hint: latency}'` as the third
argument for a detector option. The py-spy summary keeps the samples of the runtime's threads that were not
waiting and prints self and inclusive counts per function (at 100 Hz one sample is 10 ms of wall time; divide
by the parts for ms per part). docs/benchmarks.md ("Against the peer", "Cheaper parts and `hint: auto`")
records before/after runs.
"""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path

WAITS = ("Condition.wait", "Event.wait", "_wait_for_tstate_lock", "select (", "sleep")


def summarize(raw: Path, top: int = 50) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = infer = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        if not any("Runtime._" in f or "_worker (concurrent" in f for f in frames) or any(
                w in frames[-1] for w in WAITS):
            continue
        total += n
        infer += n if "InferRequest.infer" in stack else 0
        own[frames[-1]] += n
        for f in set(frames) - {f for f in frames if "threading.py" in f}:
            inclusive[f] += n
    print(f"busy runtime samples {total}, of them InferRequest.infer {infer} ({100 * infer / max(total, 1):.0f}%)")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"--- {title}")
        for name, n in counter.most_common(top):
            print(f"{n:6d} {100 * n / max(total, 1):5.1f}% {name}")


def run(work: Path, parts: int, detector: str = "{}") -> None:
    import yaml

    from inspection.inference.offline import ensure_offline

    ensure_offline()
    from inspection.config import load_station_config
    from inspection.demo import DEMO_DIR
    from inspection.runtime.pipeline import Station
    from training.bench import ThreadCpu
    from training.export import default_out, export_model

    work.mkdir(parents=True, exist_ok=True)
    model, images = DEMO_DIR / "models" / "solder_yolov8n.pt", DEMO_DIR / "parts" / "solder"
    exported = next(work.rglob("*.xml"), None) or export_model(
        model, "openvino", imgsz=320, out=default_out(work / "model.pt", "openvino"), samples=images,
        max_images=2).path
    recipe = work / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "profile", "model": str(model), "deadline_ms": 60000.0}))
    config = work / "station.yaml"
    config.write_text(yaml.safe_dump({
        "name": "profile", "data_dir": str(work / "data"), "recipe": str(recipe),
        "cameras": [{"kind": "replay", "id": "cam0", "path": str(images), "loop": True, "max_parts": parts}],
        "detector": {"kind": "openvino", "model": str(exported), **yaml.safe_load(detector)}}))
    # store: the defaults (failures archived)
    with Station(load_station_config(config), db_path=work / f"profile_{time.time():.0f}.db") as station:
        station.warmup()
        cpu0 = time.process_time()
        with ThreadCpu() as threads:
            summary = station.run()
        cpu = time.process_time() - cpu0
    n = max(summary.parts, 1)
    print(f"{summary.parts} parts, {summary.parts / summary.elapsed_s:.1f} fps, {1000 * cpu / n:.2f} ms CPU per part")
    for label, ms in threads.per_part_ms(summary.parts).items():
        print(f"{ms:7.2f} ms/part  {label}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--summarize":
        summarize(Path(sys.argv[2]))
    elif len(sys.argv) in (3, 4):
        run(Path(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:])
    else:
        raise SystemExit(__doc__)
