"""Profile one part: the real `Station` on the solder demo at 320 px (OpenVINO, default store), under py-spy.

    py-spy record -r 100 --format raw -o station.raw -- .venv/bin/python bench/profile_station.py WORK_DIR 150
    .venv/bin/python bench/profile_station.py --summarize station.raw

The summary keeps the samples of the runtime's threads that were not waiting and prints self and inclusive
counts per function (at 100 Hz one sample is 10 ms of wall time; divide by the parts for ms per part).
docs/benchmarks.md ("Against the peer") records a before/after run.
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


def run(work: Path, parts: int) -> None:
    import yaml

    from inspection.inference.offline import ensure_offline

    ensure_offline()
    from inspection.config import load_station_config
    from inspection.demo import DEMO_DIR
    from inspection.runtime.pipeline import Station
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
        "detector": {"kind": "openvino", "model": str(exported)}}))  # store: the defaults (failures archived)
    with Station(load_station_config(config), db_path=work / f"profile_{time.time():.0f}.db") as station:
        station.warmup()
        cpu0 = time.process_time()
        summary = station.run()
        cpu = time.process_time() - cpu0
    print(f"{summary.parts} parts, {summary.parts / summary.elapsed_s:.1f} fps, "
          f"{1000 * cpu / max(summary.parts, 1):.1f} ms CPU per part")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--summarize":
        summarize(Path(sys.argv[2]))
    elif len(sys.argv) == 3:
        run(Path(sys.argv[1]), int(sys.argv[2]))
    else:
        raise SystemExit(__doc__)
