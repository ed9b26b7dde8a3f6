"""Repository-level guarantees: lint clean, package boundaries kept, README commands in step with CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


def test_ruff_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_imports_qt_or_training() -> None:
    result = subprocess.run([_tool("lint-imports")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python3.11 -m venv .venv && .venv/bin/pip install -q -e ".[test]" && .venv/bin/python -m pytest'
    assert command in ci and command in readme


def test_configuration_reference_is_in_step_with_the_schema() -> None:
    from inspection.config_reference import config_reference

    documented = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert documented == config_reference(), "run: station config-reference > docs/configuration.md"
