from __future__ import annotations

from pathlib import Path

import pytest

from inspection.errors import ModelError
from inspection.models.registry import ModelRegistry, PromotionGate, mcnemar_exact_p


def model_file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / f"{name}.pt"
    path.write_bytes(content)
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
