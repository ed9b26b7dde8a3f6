"""The bundled demo parts are reproducible from their script and stay small."""

from __future__ import annotations

import json
from pathlib import Path

from datasets.make_demo_samples import write_demo_samples

BUNDLED = Path(__file__).resolve().parents[2] / "inspection" / "demo" / "parts"


def test_demo_samples_are_deterministic(tmp_path: Path) -> None:
    first = write_demo_samples(tmp_path / "a", count=4)
    second = write_demo_samples(tmp_path / "b", count=4)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    manifest = json.loads((tmp_path / "a" / "solder" / "manifest.json").read_text())
    goods = [v["good"] for v in manifest["parts"].values()]
    assert goods == [True, False, False, True]
    assert all(v["defects"] for v in manifest["parts"].values() if not v["good"])


def test_bundled_parts_exist_and_are_small() -> None:
    for product in ("solder", "paint"):
        images = sorted((BUNDLED / product).glob("*.jpg"))
        assert len(images) >= 20, f"run `python -m datasets.make_demo_samples` ({product})"
        assert any("_good" in p.name for p in images) and any("_bad" in p.name for p in images)
    total = sum(p.stat().st_size for p in BUNDLED.rglob("*") if p.is_file())
    assert total < 3_000_000
