"""The lean line install: `pip install .` into a venv without system site packages has no torch, no
ultralytics and no Qt, and still runs the bundled demo on its exported ONNX models with the verdicts of the
original models. Also measures the install (time, size, import time; see docs/install.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Per-part verdicts of the ORIGINAL models (.pt YOLO, .npz anomaly) on the bundled demo parts; the exported
# ONNX models give the same (training/export_demo.py checks it and records it in the model cards).
EXPECTED = {
    "solder": "PFFPFFPFFPFFPPFPFFPFFPFF",
    "paint": "PFFPFFFRFPFFPFPPFFPFFPFF",
}
_LETTER = {"PASS": "P", "FAIL": "F", "REVIEW": "R", "ERROR": "E"}

_VERDICTS = """
import json, sys, cv2
from inspection.config import load_station_config
from inspection.demo import DEMO_DIR, demo_config_path
from inspection.domain.judge import Judge
from inspection.domain.recipe import load_recipe
from inspection.adapters.registry import create_adapter
from inspection.domain.types import Frame
product = sys.argv[1]
config = load_station_config(demo_config_path(product))
recipe = load_recipe(config.recipe)
detector = create_adapter("detector", config.detector, model_path=recipe.model, tiling=recipe.tiling)
judge = Judge(recipe)
parts = sorted(p for p in (DEMO_DIR / "parts" / product).iterdir() if p.suffix in (".jpg", ".png"))
out = [judge.judge(detector.detect(Frame(cv2.imread(str(p)), "cam0", i, 0.0)).detections).verdict.status.value
       for i, p in enumerate(parts)]
print(json.dumps({"model": detector.model_id, "verdicts": out}))
"""


def _run(cmd: list[str], timeout_s: float, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("lean")
    source = work / "src"  # a copy, so the build leaves nothing (build/, egg-info) in the repository
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for package in ("inspection", "station_ui", "training", "datasets"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = work / "venv"
    created = _run([sys.executable, "-m", "venv", str(venv)], 300)  # no --system-site-packages
    assert created.returncode == 0, created.stderr
    started = time.perf_counter()
    installed = _run([str(venv / "bin" / "pip"), "install", "-q", str(source)], 1800)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    install_s = time.perf_counter() - started
    du = _run(["du", "-sm", str(venv)], 120).stdout.split()[0]
    print(f"\nlean install: pip install . took {install_s:.0f} s; venv {du} MB")
    return {"venv": venv, "python": str(venv / "bin" / "python"), "station": str(venv / "bin" / "station")}


@pytest.mark.slow
def test_the_lean_install_has_no_training_stack_and_no_qt(lean: dict[str, object]) -> None:
    for module in ("torch", "ultralytics", "PyQt6"):
        result = _run([str(lean["python"]), "-c", f"import {module}"], 60)
        assert result.returncode != 0 and "No module named" in result.stderr, module
    started = time.perf_counter()
    result = _run([str(lean["python"]), "-c", "import inspection.cli, inspection.runtime.pipeline"], 120)
    assert result.returncode == 0, result.stderr
    print(f"lean: import inspection.cli + pipeline {time.perf_counter() - started:.2f} s (fresh process)")
    # Every core module imports without torch, except the torch network module the torch runtime loads lazily.
    walk = ("import importlib, json, pkgutil, inspection\nfailed = {}\n"
            "for m in pkgutil.walk_packages(inspection.__path__, 'inspection.'):\n"
            "    try: importlib.import_module(m.name)\n"
            "    except ImportError as e: failed[m.name] = e.name\n"
            "print(json.dumps(failed))")
    result = _run([str(lean["python"]), "-c", walk], 300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"inspection.anomaly.network": "torch"}


@pytest.mark.slow
@pytest.mark.parametrize("product", ["solder", "paint"])
def test_the_exported_demo_models_give_the_original_verdicts(lean: dict[str, object], product: str) -> None:
    result = _run([str(lean["python"]), "-c", _VERDICTS, product], 600, cwd=str(lean["venv"]))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert ".onnx" not in found["model"] and found["model"].startswith(f"{product}_yolov8n@")
    assert "".join(_LETTER[v] for v in found["verdicts"]) == EXPECTED[product]


@pytest.mark.slow
def test_readme_demo_command_runs_headless_in_the_lean_install(lean: dict[str, object], tmp_path: Path) -> None:
    """`station demo --headless` exactly as the README runs it (fresh process, no torch)."""
    import sqlite3

    db = tmp_path / "demo.db"
    env = {**os.environ, "STATION_DATA_DIR": str(tmp_path / "data")}
    result = _run([str(lean["station"]), "demo", "--headless", "--db", str(db)], 600, env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "parts      24" in result.stdout
    rows = sqlite3.connect(db).execute("select sequence, verdict from inspections order by sequence").fetchall()
    assert len(rows) == 24
    # A part the loaded machine could not inspect in time is an ERROR (fail-safe), never a wrong verdict.
    for sequence, verdict in rows:
        assert verdict == "ERROR" or _LETTER[verdict] == EXPECTED["solder"][sequence], (sequence, verdict)
    assert sum(v != "ERROR" for _, v in rows) >= 12, "most parts inspected"


@pytest.mark.slow
def test_torch_models_and_the_console_name_the_extra_to_install(lean: dict[str, object], tmp_path: Path) -> None:
    env = {**os.environ, "STATION_DATA_DIR": str(tmp_path / "data")}
    pt = Path(str(lean["venv"])).glob("lib/python*/site-packages/inspection/demo/models/solder_yolov8n.pt")
    config = tmp_path / "station.yaml"
    config.write_text(f"recipe: {tmp_path / 'recipe.yaml'}\ncameras: [{{kind: replay, path: {tmp_path}}}]\n"
                      f"detector: {{kind: ultralytics}}\n")
    (tmp_path / "recipe.yaml").write_text(f"name: pt\nmodel: {next(pt)}\n")
    result = _run([str(lean["station"]), "run", "-c", str(config), "--headless"], 300, env=env)
    assert result.returncode == 3  # model error
    assert "this model needs the [train] extra" in result.stderr
    assert "pip install 'inspection-station[train]'" in result.stderr
    result = _run([str(lean["station"]), "console"], 120, env=env)
    assert result.returncode == 3 and "pip install 'inspection-station[console]'" in result.stderr
