"""A line of stations into one central PostgreSQL: replication lag, rows/s, catch-up after an outage.

N station processes each write parts at line rate through the station's own SQLite writer (`Store.record`:
1 inspection row per part, every third part fails with 2 detections + 2 per-RefDes rows) and run the
central replicator (`inspection.central.replicator.Replicator`) as a station does. A throwaway PostgreSQL
(Debian binaries, 127.0.0.1, a temporary folder; fsync on, as in production) is started here, stopped
(`pg_ctl stop -m immediate`, a crash) for `--outage` seconds in the middle of the run and started again.

Measured:
- replication lag per part = PostgreSQL's clock when the row landed (`received`) − the part's timestamp,
  p50/p99, for parts written while the database was up (steady state);
- rows/s landed in PostgreSQL over the whole run, and during the catch-up burst;
- catch-up time: database back → every station's backlog shipped;
- a bulk insert rate: one replicator shipping a prefilled SQLite of `--bulk` parts (what one PostgreSQL
  takes from one connection).

    STATION_TEST_PG_BIN=/usr/lib/postgresql/15/bin .venv/bin/python bench/fleet.py --stations 4 --rate 5 \
        --steady 30 --outage 60
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from inspection.central.replicator import Replicator, connect
from inspection.config import CentralConfig
from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.records.store import Store

IMAGE = np.zeros((8, 8), np.uint8)


def part(i: int, ts: float) -> Inspection:
    frame = Frame(IMAGE, "cam0", i, ts, part_id=f"P{i:07d}")
    if i % 3 == 2:
        found = (Detection("bridge", 0.9, Box(1, 1, 4, 4), 0, source="aoi", attributes={"refdes": "R12", "pin": "2"}),
                 Detection("insufficient", 0.8, Box(5, 1, 7, 4), 1, source="aoi", attributes={"refdes": "C3"}))
        return Inspection(frame, found, Verdict(VerdictStatus.FAIL, (Reason("defect", "bridge"),)), found,
                          recipe="board", model_id="m1")
    return Inspection(frame, (), Verdict.passed(), recipe="board", model_id="m1")


def station(name: str, db: str, url: str, rate: float, stop_at: float, written: Any) -> None:
    """One station process: parts at `rate`/s into SQLite, the replicator shipping them."""
    with Store(db) as store:
        replicator = Replicator(CentralConfig(url=url, interval_s=0.2, reconnect_max_s=1.0, connect_timeout_s=2),
                                db, name).start()
        i, t0 = 0, time.monotonic()
        while time.monotonic() < stop_at:
            store.record(part(i, time.time()))
            i += 1
            written.value = i
            time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        deadline = time.monotonic() + 600
        while replicator.stats.backlog or not replicator.stats.connected:  # ship the rest, then stop
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        replicator.stop()


class Cluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin, self.dir = bin_dir, Path(tempfile.mkdtemp(prefix="fleet-bench-pg-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_pg:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_pg, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "pg.log"), "-w", "start",
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir}")

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_pg, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                        "stop"], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def landed(url: str) -> int:
    with connect(url, connect_timeout_s=2) as conn:
        return int(conn.execute("select count(*) from inspections").fetchone()[0])


def total_rows(url: str) -> int:
    with connect(url, connect_timeout_s=2) as conn:
        return int(sum(conn.execute(f"select count(*) from {t}").fetchone()[0]
                       for t in ("inspections", "detections", "refdes_results", "events")))


def bulk_rate(url: str, parts: int, folder: Path) -> dict[str, float]:
    db = folder / "bulk.db"
    with Store(db) as store:
        now = time.time()
        for i in range(parts):
            store.record(part(i, now - parts + i))
    replicator = Replicator(CentralConfig(url=url, batch_rows=1000), db, "bulk")
    t0 = time.perf_counter()
    rows = 0
    while shipped := replicator.cycle():
        rows += shipped
    took = time.perf_counter() - t0
    return {"parts": parts, "rows": rows, "seconds": round(took, 2), "rows_per_s": round(rows / took)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", type=int, default=4)
    ap.add_argument("--rate", type=float, default=5.0, help="parts/s per station")
    ap.add_argument("--steady", type=float, default=30.0, help="seconds before the outage (and after it)")
    ap.add_argument("--outage", type=float, default=60.0, help="seconds the database is down")
    ap.add_argument("--bulk", type=int, default=20000, help="parts for the bulk insert rate (0: skip)")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    bin_dir = os.environ.get("STATION_TEST_PG_BIN") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))),
                                                             None)
    if not bin_dir:
        raise SystemExit("needs PostgreSQL's binaries: apt-get install postgresql, or set STATION_TEST_PG_BIN")
    cluster = Cluster(Path(bin_dir))
    folder = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        cluster.start()
        t_start = time.monotonic()
        stop_at = t_start + 2 * args.steady + args.outage
        ctx = mp.get_context("spawn")
        counters = [ctx.Value("q", 0) for _ in range(args.stations)]
        procs = [ctx.Process(target=station, args=(f"line{k + 1}", str(folder / f"s{k}.db"), cluster.url, args.rate,
                                                   stop_at, counters[k])) for k in range(args.stations)]
        for p in procs:
            p.start()
        time.sleep(args.steady)
        t_down_wall = time.time()
        cluster.crash()
        time.sleep(args.outage)
        cluster.start()
        t_up = time.monotonic()
        t_up_wall = time.time()
        caught_up = None
        while caught_up is None:
            try:
                if landed(cluster.url) >= sum(c.value for c in counters) - args.stations * args.rate * 1.0:
                    caught_up = time.monotonic() - t_up  # within ~1 s of parts of the live backlog
                    break
            except Exception:
                pass
            time.sleep(0.1)
        for p in procs:
            p.join(900)
        took = time.monotonic() - t_start
        written = sum(c.value for c in counters)
        with connect(cluster.url) as conn:
            lag = np.array([float(r[0]) for r in conn.execute(
                "select extract(epoch from received - time) from inspections where time < to_timestamp(%s) "
                "or time > to_timestamp(%s) + interval '5 seconds'", (t_down_wall - 1, t_up_wall + caught_up))])
            during = conn.execute("select count(*) from inspections where time between to_timestamp(%s) and "
                                  "to_timestamp(%s)", (t_down_wall, t_up_wall)).fetchone()[0]
            dup = conn.execute("select count(*) - count(distinct (station, local_id)) from inspections").fetchone()[0]
        rows = total_rows(cluster.url)
        result: dict[str, Any] = {
            "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, load "
                       f"{os.getloadavg()[0]:.1f} at the end (shared with other work)",
            "stations": args.stations, "rate_parts_s_per_station": args.rate, "parts_written": written,
            "parts_landed": landed(cluster.url), "duplicates": int(dup), "rows_landed": rows,
            "run_s": round(took, 1), "rows_per_s": round(rows / took, 1),
            "lag_p50_s": round(float(np.percentile(lag, 50)), 3) if lag.size else None,
            "lag_p99_s": round(float(np.percentile(lag, 99)), 3) if lag.size else None,
            "outage_s": args.outage, "parts_written_while_down": int(during),
            "catch_up_s": round(caught_up, 2),
        }
        if args.bulk:
            result["bulk"] = bulk_rate(cluster.url, args.bulk, folder)
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    finally:
        cluster.remove()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
