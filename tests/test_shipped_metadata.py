"""Shipped metadata (model cards, configs, docs) carries repo-relative paths only (issue 22)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from inspection.models.portable import absolute_paths, portable_text, portable_value

REPO = Path(__file__).resolve().parents[1]
SUFFIXES = (".json", ".md", ".yaml", ".yml")


def _shipped_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    # tests/ may name paths on purpose (fixtures, this very check); everything else ships or is read by users.
    return [REPO / f for f in listed if f.endswith(SUFFIXES) and not f.startswith("tests/") and (REPO / f).is_file()]


def test_the_scan_sees_the_model_cards() -> None:
    names = {p.relative_to(REPO).as_posix() for p in _shipped_files()}
    assert "inspection/demo/models/solder_yolov8n.json" in names and "README.md" in names


def test_no_shipped_json_md_or_yaml_names_an_absolute_path() -> None:
    found = {p.relative_to(REPO).as_posix(): absolute_paths(p.read_text(encoding="utf-8", errors="replace"))
             for p in _shipped_files()}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"absolute paths in shipped files (use inspection.models.portable.portable_text): {found}"


@pytest.mark.parametrize(("text", "expected"), [
    ("/tmp/station-data/paint-44/data.yaml", "$TMPDIR/station-data/paint-44/data.yaml"),
    ("/work/main/training/ship.py paint --out /tmp/p.pt", "training/ship.py paint --out $TMPDIR/p.pt"),
    ("/work/shared/data/deeppcb", "../shared/data/deeppcb"),
    ("/home/ana/models/a.pt", "<local>/models/a.pt"),
    ("/root/x/y/z.yaml", "<local>/y/z.yaml"),
    ("C:\\Users\\ana\\runs\\best.pt", "<local>/runs/best.pt"),
    (f"{REPO}/inspection/demo/models/a.pt", "inspection/demo/models/a.pt"),
    ("inspection/demo/models/a.pt and http://host/tmp/x", "inspection/demo/models/a.pt and http://host/tmp/x"),
])
def test_portable_text(text: str, expected: str) -> None:
    assert portable_text(text, REPO) == expected
    assert not absolute_paths(portable_text(text, REPO))


@pytest.mark.parametrize("root", ["/check/work/main", "/builds/line/station", "/srv/ci/x"])
def test_a_checkout_under_any_root_becomes_repo_relative(root: str) -> None:
    # CI clones into roots the generic pattern does not know; the checkout's own prefix must still go.
    repo = Path(root)
    text = f"{root}/inspection/demo/models/a.pt, {root} and {root}x/other.pt"
    assert portable_text(text, repo) == f"inspection/demo/models/a.pt, . and {root}x/other.pt"


def test_a_written_model_card_is_portable(tmp_path: Path) -> None:
    from training.train import ModelCard, write_card

    card = ModelCard(model="m.pt", task="detect", classes=["a"], data="/tmp/station-data/x/data.yaml",
                     data_version="abc", model_cfg="yolov8n.yaml", epochs=1, imgsz=64, batch=2, device="cpu",
                     train_seconds=1.0, command="/home/ana/repo/training/ship.py solder --out /tmp/o.pt",
                     source={"root": "/work/shared/data/deeppcb"})
    json_path, md_path = write_card(tmp_path / "m.pt", card, portable=True)  # as when shipped into the repo
    assert not absolute_paths(json_path.read_text()) and not absolute_paths(md_path.read_text())
    assert json.loads(json_path.read_text())["command"] == "training/ship.py solder --out $TMPDIR/o.pt"
    assert portable_value({"a": ["/tmp/q"]}) == {"a": ["$TMPDIR/q"]}
    local, _ = write_card(tmp_path / "candidate.pt", card)  # a local candidate keeps its provenance
    assert json.loads(local.read_text())["data"] == "/tmp/station-data/x/data.yaml"
