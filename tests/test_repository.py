"""Repository-level guarantees: lint clean, package boundaries kept, README commands in step with CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


def test_ruff_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_hold() -> None:
    """Layers, independence and the Qt/training ban (pyproject [tool.importlinter]), no indirect escapes."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    kinds = {c["type"] for c in config["contracts"]}
    assert {"layers", "independence", "forbidden"} <= kinds
    assert not any(c.get("allow_indirect_imports") for c in config["contracts"])
    result = subprocess.run([_tool("lint-imports")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_import_cycles_between_modules() -> None:
    """No module reaches itself through imports (lazy and TYPE_CHECKING imports count)."""
    import grimp

    graph = grimp.build_graph("inspection", "station_ui", "training", "datasets")
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} -> {imported} -> … -> {module}")
    assert not cycles, "\n".join(cycles)


def test_core_has_few_top_level_modules() -> None:
    """`inspection/` is capability packages; only the CLI, configuration and errors sit on top."""
    modules = sorted(p.name for p in (REPO / "inspection").glob("*.py"))
    assert modules == ["__init__.py", "cli.py", "config.py", "config_reference.py", "errors.py"]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python3.11 -m venv .venv && .venv/bin/pip install -q -e ".[test]" && .venv/bin/python -m pytest'
    assert command in ci and command in readme


def test_configuration_reference_is_in_step_with_the_schema() -> None:
    from inspection.config_reference import config_reference

    documented = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert documented == config_reference(), "run: station config-reference > docs/configuration.md"


def test_console_runs_no_sql() -> None:
    """The console reads through core functions (Store, SampleKeeper, process store); it never writes SQL."""
    import re

    sql = re.compile(r"\.execute\(|\.query\(|\.db\[|import sqlite|sqlite3\.|\bselect\b[^\n]*\bfrom\b"
                     r"|\binsert\s+into\b", re.I)
    found = [f"{path.name}:{n}: {line.strip()}" for path in sorted((REPO / "station_ui").glob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if sql.search(line)]
    assert not found, "\n".join(found)
