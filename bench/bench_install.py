"""Install profiles, measured: size and import time of the lean line install vs the full one.

    python bench/bench_install.py --lean-venv /tmp/lean          # creates it (pip install .) if missing
    python bench/bench_install.py --lean-venv /tmp/lean --full-python .venv/bin/python

For each interpreter: the size on disk of the station and every distribution it depends on (the closure
of `inspection-station` with the extras installed there, from the installed files' sizes; dependencies'
own extras are not followed), the wall time
of `import inspection.cli` and of `station --help` in fresh processes (median of --runs), the slowest
modules of `python -X importtime`, and whether torch imports. The lean venv is created with `python -m
venv` (no system site packages) and `pip install .` from this repository, and the install is timed.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_SIZE_SCRIPT = r"""
import json, re
from importlib.metadata import distribution, PackageNotFoundError
def norm(n): return re.sub(r"[-_.]+", "-", n).lower()
seen, todo, size, names = set(), ["inspection-station"], 0, []
while todo:
    name = norm(todo.pop())
    if name in seen: continue
    seen.add(name)
    try: dist = distribution(name)
    except PackageNotFoundError: continue
    names.append(name)
    for f in dist.files or []:
        try: size += f.locate().stat().st_size
        except OSError: pass
    for req in dist.requires or []:
        if name != "inspection-station" and re.search(r"extra\s*==", req): continue  # others' extras: not pulled
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)", req)
        if m: todo.append(m.group(1))
print(json.dumps({"bytes": size, "distributions": len(names)}))
"""


def _run(cmd: list[str], timeout_s: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)


def make_lean_venv(venv: Path) -> float:
    """`python -m venv` + `pip install .` (no system site packages); returns the install's wall seconds."""
    if _run([sys.executable, "-m", "venv", "--clear", str(venv)]).returncode != 0:
        raise RuntimeError(f"python -m venv {venv} failed")
    started = time.perf_counter()
    result = _run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)], timeout_s=1800.0)
    if result.returncode != 0:
        raise RuntimeError(f"pip install . failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started


def _median_wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = _run(cmd)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _importtime_top(python: str, n: int = 6) -> list[tuple[str, float]]:
    """The third-party packages that cost most under `import inspection.cli` (cumulative ms, by package)."""
    err = _run([python, "-X", "importtime", "-c", "import inspection.cli"]).stderr
    cost: dict[str, float] = {}
    for line in err.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| *(\S+)", line)
        if m and "." not in m.group(2) and not m.group(2).startswith(("_", "inspection", "encodings", "site")):
            cost[m.group(2)] = max(cost.get(m.group(2), 0.0), int(m.group(1)) / 1000.0)
    return sorted(((k, round(v, 1)) for k, v in cost.items()), key=lambda r: -r[1])[:n]


def _du_mb(path: Path) -> float:
    out = _run(["du", "-sm", str(path)]).stdout.split()
    return float(out[0]) if out else 0.0


def measure(python: str, runs: int = 3) -> dict[str, object]:
    bindir = Path(python).parent
    size = json.loads(_run([python, "-c", _SIZE_SCRIPT]).stdout)
    return {
        "python": python,
        "venv_du_mb": _du_mb(Path(python).parents[1]),
        "size_mb": round(size["bytes"] / 1e6, 1),
        "distributions": size["distributions"],
        "torch_importable": _run([python, "-c", "import torch"]).returncode == 0,
        "import_inspection_cli_s": round(_median_wall([python, "-c", "import inspection.cli"], runs), 2),
        "station_help_s": round(_median_wall([str(bindir / "station"), "--help"], runs), 2),
        "importtime_top_ms": _importtime_top(python),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lean-venv", type=Path, required=True)
    parser.add_argument("--full-python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    report: dict[str, object] = {}
    if not (args.lean_venv / "bin" / "station").exists():
        report["lean_install_s"] = round(make_lean_venv(args.lean_venv), 1)
    report["lean"] = measure(str(args.lean_venv / "bin" / "python"), args.runs)
    report["full"] = measure(args.full_python, args.runs)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
