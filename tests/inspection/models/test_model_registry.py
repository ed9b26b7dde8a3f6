from __future__ import annotations

import io
from pathlib import Path

import pytest

from inspection.errors import ModelError
from inspection.models.registry import ModelRegistry, PromotionGate, mcnemar_exact_p


def model_file(tmp_path: Path, name: str, content: bytes) -> Path:
    import torch

    path = tmp_path / f"{name}.pt"
    buffer = io.BytesIO()  # a real (zip) checkpoint: the registry refuses anything else
    torch.save({"weights": content}, buffer)  # in memory: same content, same bytes, whatever the name
    path.write_bytes(buffer.getvalue())
    return path


def test_register_promote_gate_and_rollback(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "reg")
    a = registry.register(model_file(tmp_path, "a", b"A"), "board", metrics={"escape_rate": 0.05,
                                                                            "false_reject_rate": 0.02})
    assert registry.register(model_file(tmp_path, "a2", b"A"), "board").id == a.id  # same bytes, same model
    registry.promote(a.id, "eve")
    worse = registry.register(model_file(tmp_path, "b", b"B"), "board", metrics={"escape_rate": 0.08,
                                                                                "false_reject_rate": 0.01})
    with pytest.raises(ModelError, match=r"blocked by the gate(.|\n)*escape_rate: 0.0500 → 0.0800"):
        registry.promote(worse.id, "eve")
    assert registry.production("board").id == a.id
    better = registry.register(model_file(tmp_path, "c", b"C"), "board", metrics={"escape_rate": 0.03,
                                                                                 "false_reject_rate": 0.03})
    report = registry.promote(better.id, "eve", PromotionGate(max_false_reject_increase=0.02))
    assert report.passed and registry.production("board").id == better.id
    assert registry.get(a.id).status == "retired"
    assert registry.rollback("board", "sam").id == a.id
    assert registry.production("board").id == a.id
    assert [h["action"] for h in registry.history("board")][-2:] == ["promote", "rollback"]


def test_tampered_file_is_refused_and_registry_unchanged(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "reg")
    record = registry.register(model_file(tmp_path, "a", b"A"), "board")
    registry.promote(record.id, "eve")
    record.path.write_bytes(b"evil")
    with pytest.raises(ModelError, match="changed after registration"):
        registry.production_path("board")
    assert registry.production("board").id == record.id
    with pytest.raises(ModelError, match="no production model for product 'paint'"):
        registry.production_path("paint")


def test_shadow_evidence_blocks_a_worse_candidate(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "reg")
    base = {"escape_rate": 0.05, "false_reject_rate": 0.02}
    registry.promote(registry.register(model_file(tmp_path, "a", b"A"), "board", metrics=base).id, "eve")
    cand = registry.register(model_file(tmp_path, "b", b"B"), "board", metrics=base)
    gate = PromotionGate(shadow_alpha=0.05)
    assert not registry.check_gate(cand, gate, shadow=(15, 2)).passed
    assert registry.check_gate(cand, gate, shadow=(2, 15)).passed


def test_mcnemar_exact() -> None:
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(5, 5) == 1.0
    assert mcnemar_exact_p(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_exact_p(15, 2) < 0.01 < mcnemar_exact_p(6, 3)


def test_two_engineers_promoting_at_once_leave_one_production_model(tmp_path: Path) -> None:
    """Two processes (here: two connections on two threads) promote different candidates at the same moment.
    Without one write lock from the first read, both read the same production model, both retire it and both
    become production."""
    import threading

    registry = ModelRegistry(tmp_path / "reg")
    metrics = {"escape_rate": 0.05, "false_reject_rate": 0.05}
    for round_ in range(6):
        ids = [registry.register(model_file(tmp_path, f"m{round_}{k}", f"{round_}{k}".encode()), "board",
                                 metrics=metrics).id for k in "ab"]
        start = threading.Barrier(2)

        def promote(model_id: str, start: threading.Barrier = start) -> None:
            engineer = ModelRegistry(tmp_path / "reg")  # its own connection, as another process has
            try:
                start.wait()
                engineer.promote(model_id, "eve")
            finally:
                engineer.close()

        threads = [threading.Thread(target=promote, args=(model_id,)) for model_id in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        production = [r for r in registry.list("board") if r.status == "production"]
        assert len(production) == 1
        last = registry.history("board")[-1]
        assert last["model_id"] == production[0].id and last["previous_id"] in ids  # each saw the other's


@pytest.mark.parametrize(("metrics", "message"), [
    ({"escape_rate": -5.0, "false_reject_rate": 0.0}, "a rate lies between 0 and 1"),
    ({"escape_rate": float("-inf")}, "expected a finite number"),
    ({"escape_rate": "low"}, "expected a finite number"),
])
def test_impossible_metrics_never_reach_the_gate(tmp_path: Path, metrics: dict, message: str) -> None:
    registry = ModelRegistry(tmp_path / "reg")
    with pytest.raises(ModelError, match=message):
        registry.register(model_file(tmp_path, "a", b"A"), "board", metrics=metrics)


def test_a_row_edited_to_point_outside_the_registry_is_refused(tmp_path: Path) -> None:
    import sqlite3

    registry = ModelRegistry(tmp_path / "reg")
    record = registry.register(model_file(tmp_path, "a", b"A"), "board")
    registry.promote(record.id, "eve")
    outside = tmp_path / "outside.pt"
    outside.write_bytes(record.path.read_bytes())  # same bytes, same hash: only the path betrays it
    with sqlite3.connect(tmp_path / "reg" / "registry.db") as con:
        con.execute("update models set path = ? where id = ?", (str(outside), record.id))
    with pytest.raises(ModelError, match="not the registry's own copy"):
        registry.production_path("board")


def test_a_candidate_of_other_classes_is_blocked_by_the_gate(tmp_path: Path) -> None:
    """The PCB model registered as the paint product would pass on its metrics and then fail every recipe
    of the line at the next start: the gate compares what the models detect."""
    registry = ModelRegistry(tmp_path / "reg")
    metrics = {"escape_rate": 0.05, "false_reject_rate": 0.05}
    paint = registry.register(model_file(tmp_path, "p", b"P"), "paint", metrics=metrics,
                              classes=("run", "crater"), task="detect")
    registry.promote(paint.id, "eve")
    pcb = registry.register(model_file(tmp_path, "b", b"B"), "paint", metrics=metrics,
                            classes=("open", "short"), task="detect")
    with pytest.raises(ModelError, match=r"model: detect \['run', 'crater'\] → detect \['open', 'short'\].*BLOCKED"):
        registry.promote(pcb.id, "eve")
    assert registry.production("paint").id == paint.id


def test_the_cli_records_what_a_model_detects(tmp_path: Path, tiny_model: Path) -> None:
    from click.testing import CliRunner

    from inspection.cli import station

    result = CliRunner().invoke(station, ["models", "register", str(tiny_model), "--product", "board",
                                          "--registry", str(tmp_path / "reg")])
    assert result.exit_code == 0, result.output
    (record,) = ModelRegistry(tmp_path / "reg").list("board")
    assert record.task == "detect" and record.classes == ("bridge", "insufficient", "missing")
