from __future__ import annotations

from pathlib import Path

from inspection.config import load_station_config
from inspection.domain.judge import Judge
from inspection.domain.recipe import ClassRule, Recipe
from inspection.inference.torch_runtime import Options, UltralyticsDetector
from inspection.models.shadow import ShadowRunner, shadow_evidence
from inspection.runtime.pipeline import Station


def test_candidate_disagreements_are_recorded(station_yaml: Path, tiny_model: Path) -> None:
    # The candidate sees every low-confidence detection as a defect, production passes everything.
    eager = Judge(Recipe(name="eager", default=ClassRule(min_confidence=0.0)))
    candidate = UltralyticsDetector(tiny_model, Options(device="cpu", imgsz=96, conf=0.0001))
    with Station(load_station_config(station_yaml)) as station:
        shadow = ShadowRunner(candidate, eager, station.store).start()
        station.listeners.append(shadow)
        station.warmup()
        summary = station.run()
        shadow.stop()
        rows = station.store.query("select * from shadow")
        assert summary.counts["PASS"] == 6
        assert shadow.compared + shadow.skipped == 6 and shadow.disagreements == len(rows) > 0
        assert {(r["production_verdict"], r["candidate_verdict"]) for r in rows} == {("PASS", "FAIL")}
        station.store.update("shadow", rows[0]["id"], {"truth": "FAIL", "reviewed_by": "eve"})
        assert shadow_evidence(station.store, candidate.model_id) == (0, 1)
