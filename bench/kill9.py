"""kill -9 at random moments: the verdict log survives a station that is killed mid-write.

Each round starts `station run` (headless, replay on a loop, every image archived) in its own process, waits
until it is logging, kills it with SIGKILL at a random moment, then checks what it left behind:

- `PRAGMA integrity_check` is ok;
- no row points at a missing or truncated image (images are written temp → fsync → rename, rows after);
- row ids continue without a gap across restarts (the next run starts numbering after the last row);
- temp files a kill leaves are counted (the next start sweeps them);
- each start after a kill logs one `unclean_shutdown` alarm event (the log says verdicts may be missing).

    .venv/bin/python bench/kill9.py --rounds 20          # numbers in docs/reliability.md

`kill_rounds()` is also what `tests/faults/test_fault_kill9.py` runs (fewer rounds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from inspection.camera.decode import DecodeFailure, decode_image

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Round:
    killed_after_s: float
    rows_before: int
    rows_after: int
    integrity: str
    bad_images: int
    id_gaps: int
    temp_files: int
    unclean_noted: int  # `unclean_shutdown` events in the log after this round (one per start after a kill)


def make_station(folder: Path, model_pt: Path, parts: int = 12) -> Path:
    rng = np.random.default_rng(0)
    images = folder / "parts"
    images.mkdir(parents=True, exist_ok=True)
    for i in range(parts):
        cv2.imwrite(str(images / f"part_{i:04d}.png"), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"name": "kill9", "model": str(model_pt),
                                                        "deadline_ms": 20000.0}))
    config = {"name": "kill9", "data_dir": str(folder / "data"), "recipe": "recipe.yaml",
              "cameras": [{"kind": "replay", "id": "cam0", "path": str(images), "loop": True}],
              "detector": {"kind": "onnx"}, "output": {"kind": "none"},
              "store": {"keep_images": "all", "min_free_mb": 0}, "samples": {"enabled": False}}
    path = folder / "station.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rows(db: Path, table: str = "inspections", where: str = "1") -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db, timeout=5)
        try:
            return int(con.execute(f"select count(*) from {table} where {where}").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def check(db: Path, archive: Path) -> tuple[str, int, int, int]:
    """(integrity_check, rows pointing at a missing/truncated image, gaps in row ids, temp files left)."""
    con = sqlite3.connect(db, timeout=5)
    try:
        integrity = con.execute("pragma integrity_check").fetchone()[0]
        ids_paths = con.execute("select id, image_path from inspections order by id").fetchall()
    finally:
        con.close()
    bad = sum(1 for _, p in ids_paths if p and isinstance(decode_image(Path(p)), DecodeFailure))
    ids = [i for i, _ in ids_paths]
    gaps = sum(1 for a, b in itertools.pairwise(ids) if b != a + 1) + (1 if ids and ids[0] != 1 else 0)
    temps = len(list(archive.rglob(".*.tmp"))) if archive.exists() else 0
    return integrity, bad, gaps, temps


def kill_rounds(config: Path, rounds: int, seed: int = 0, max_wait_s: float = 60.0) -> list[Round]:
    rng = random.Random(seed)
    data = yaml.safe_load(config.read_text())["data_dir"]
    db, archive = Path(data) / "station.db", Path(data) / "images"
    results = []
    for _ in range(rounds):
        before = _rows(db)
        process = subprocess.Popen([sys.executable, "-m", "inspection.cli", "run", "-c", str(config), "--headless",
                                    "-q"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        started = time.monotonic()
        try:
            while _rows(db) <= before:  # logging has begun: now the kill lands mid-run
                if process.poll() is not None or time.monotonic() - started > max_wait_s:
                    raise RuntimeError(f"station did not start logging (exit {process.returncode})")
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            killed_after = time.monotonic() - started
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        integrity, bad, gaps, temps = check(db, archive)
        unclean = _rows(db, "events", "kind = 'unclean_shutdown'")
        results.append(Round(round(killed_after, 3), before, _rows(db), integrity, bad, gaps, temps, unclean))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--folder", type=Path, default=Path("runs/kill9"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from training.export import export_model
    from training.testing import untrained_yolo

    args.folder.mkdir(parents=True, exist_ok=True)
    pt = args.folder / "kill9.pt"
    if not pt.with_suffix(".onnx").exists():
        untrained_yolo(pt, ("bridge", "solder_ball", "void"))
        export_model(pt, "onnx", imgsz=64, out=pt.with_suffix(".onnx"), max_images=1)
    results = kill_rounds(make_station(args.folder / "station", pt), args.rounds, args.seed)
    for r in results:
        print(json.dumps(asdict(r)))
    ok = all(r.integrity == "ok" and r.bad_images == 0 and r.id_gaps == 0 and r.unclean_noted == i
             for i, r in enumerate(results))
    print(f"rounds {len(results)}  integrity ok {sum(r.integrity == 'ok' for r in results)}  "
          f"rows {results[-1].rows_after}  bad images {sum(r.bad_images for r in results)}  "
          f"id gaps {max(r.id_gaps for r in results)}  temp files left {results[-1].temp_files}  "
          f"=> {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
