"""kill -9 at random moments (a few rounds here; `bench/kill9.py --rounds 20` for the documented numbers)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "kill9.py"


@pytest.mark.slow
def test_kill_9_leaves_a_sound_log_and_numbering_continues(tmp_path: Path, fault_model: Path) -> None:
    spec = importlib.util.spec_from_file_location("kill9_bench", BENCH)
    assert spec is not None and spec.loader is not None
    kill9 = importlib.util.module_from_spec(spec)
    sys.modules["kill9_bench"] = kill9  # dataclasses look their module up there
    spec.loader.exec_module(kill9)
    config = kill9.make_station(tmp_path, fault_model)
    rounds = kill9.kill_rounds(config, rounds=3, seed=1)
    for r in rounds:
        assert r.integrity == "ok" and r.bad_images == 0 and r.id_gaps == 0, r
    assert [r.unclean_noted for r in rounds] == [0, 1, 2]  # each start after a kill says so in the log
    assert rounds[0].rows_after > 0 and all(b.rows_before == a.rows_after for a, b in itertools.pairwise(rounds))
