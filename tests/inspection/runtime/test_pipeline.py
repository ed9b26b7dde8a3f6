from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inspection.config import load_station_config
from inspection.domain.types import Frame, Inspection, VerdictStatus
from inspection.errors import ConfigError, ModelError
from inspection.runtime.pipeline import Station


def test_every_part_gets_one_verdict_and_is_logged(station_yaml: Path, parts_dir: Path) -> None:
    (parts_dir / "part_0004.png").write_bytes(b"corrupt")
    seen: list[Inspection] = []
    with Station(load_station_config(station_yaml)) as station:
        station.listeners.append(seen.append)
        station.warmup()
        summary = station.run()
    assert summary.parts == 6 == len(seen)
    assert summary.counts["ERROR"] == 1 and summary.failsafe == 1
    broken = next(i for i in seen if i.frame.sequence == 4)
    assert broken.verdict.status is VerdictStatus.ERROR and broken.verdict.reasons[0].code == "decode_error"
    good = [i for i in seen if i.frame.sequence != 4]
    assert all(i.verdict.status is not VerdictStatus.ERROR and i.timings.infer_ms > 0 for i in good)
    assert all(i.model_id.startswith("tiny_detect@") for i in seen)
    rows = sqlite3.connect(station.db_path).execute("select sequence, verdict from inspections order by id").fetchall()
    assert rows == [(i.frame.sequence, i.verdict.status.value) for i in seen]


def test_an_orderly_close_is_marked_and_a_start_after_a_crash_says_so(station_yaml: Path) -> None:
    """`station_closed` ends every session; a start that finds a session without it (kill -9, power loss)
    logs `unclean_shutdown` (the real kill -9 is in tests/faults/test_fault_kill9.py)."""
    config = load_station_config(station_yaml)
    for _ in range(2):
        with Station(config) as station:
            pass

    def kinds() -> list[str]:
        return [r[0] for r in sqlite3.connect(station.db_path).execute(
            "select kind from events where kind in ('station_started', 'station_closed', 'unclean_shutdown') "
            "order by id")]

    assert kinds() == ["station_started", "station_closed"] * 2
    with sqlite3.connect(station.db_path) as con:  # what a killed session leaves: started, never closed
        con.execute("insert into events (time, level, kind, message, data) values "
                    "('2026-12-06T10:00:00', 'info', 'station_started', '', '{}')")
    with Station(config):
        pass
    assert kinds()[-3:] == ["unclean_shutdown", "station_started", "station_closed"]
    message = sqlite3.connect(station.db_path).execute(
        "select message from events where kind = 'unclean_shutdown'").fetchone()[0]
    assert "2026-12-06T10:00:00" in message and "PLC" in message


def test_model_detections_fail_the_part(station_yaml: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("min_confidence: 0.5", "min_confidence: 0.0")
                      .replace("min_confidence: 0.3", "min_confidence: 0.0"))
    config = load_station_config(station_yaml, {"detector": {"conf": 0.0001}})
    with Station(config) as station:
        summary = station.run(max_parts=2)
        row = station.store.db.execute("select n_detections, n_defects, verdict from inspections").fetchone()
    assert summary.counts["FAIL"] == 2
    assert row[0] > 0 and row[1] > 0 and row[2] == "FAIL"


def test_a_station_with_an_archive_cap_keeps_the_newest_images(station_yaml: Path, parts_dir: Path) -> None:
    """store.archive_max_gb reaches the archive: a cap below one image keeps just the newest one, every
    verdict is logged, and the console's event log says how many images went."""
    config = load_station_config(station_yaml, {"store": {"keep_images": "all", "archive_max_gb": 1e-9}})
    with Station(config) as station:
        summary = station.run()
        events = [e for e in station.store.events() if e["kind"] == "archive_rolled_over"]
        archive = station.store.archive
    assert summary.parts == 6 == sum(summary.counts.values())
    assert archive is not None and len(list(archive.root.rglob("*.bmp"))) == 1
    assert events and "oldest image(s) were deleted" in events[-1]["message"]
    with pytest.raises(ConfigError, match="archive_max_gb"):
        load_station_config(station_yaml, {"store": {"archive_max_gb": 0}})


def test_deadline_gives_failsafe_verdict(station_yaml: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("deadline_ms: 60000", "deadline_ms: 0.001"))
    with Station(load_station_config(station_yaml)) as station:
        summary = station.run(max_parts=3)
    assert summary.counts["ERROR"] == 3 and summary.failsafe == 3


def test_missing_and_invalid_models(station_yaml: Path, tmp_path: Path) -> None:
    config = load_station_config(station_yaml, {"detector": {"model": str(tmp_path / "nope.pt")}})
    with pytest.raises(ModelError, match="nope.pt does not exist"):
        Station(config).open()
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"this is not a model")
    config = load_station_config(station_yaml, {"detector": {"model": str(fake)}})
    with pytest.raises(ModelError, match="fake.pt is not a loadable ultralytics model"):
        Station(config).open()


def test_recipe_class_unknown_to_model(station_yaml: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe.read_text() + "  tombstone:\n    min_confidence: 0.3\n")
    with pytest.raises(ConfigError, match="tombstone not among tiny_detect@.*'s classes"):
        Station(load_station_config(station_yaml)).open()


def test_segmentation_model_gives_polygons(station_yaml: Path, tiny_seg_model: Path) -> None:
    config = load_station_config(station_yaml, {"detector": {"model": str(tiny_seg_model), "conf": 0.0001}})
    seen: list[Inspection] = []
    with Station(config) as station:
        station.listeners.append(seen.append)
        station.run(max_parts=1)
    polygons = [d.polygon for d in seen[0].detections if d.polygon is not None]
    assert polygons and all(len(p) >= 3 for p in polygons)


def test_failed_parts_are_kept_as_samples_for_review(station_yaml: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("min_confidence: 0.5", "min_confidence: 0.0")
                      .replace("min_confidence: 0.3", "min_confidence: 0.0"))
    config = load_station_config(station_yaml, {"detector": {"conf": 0.0001}, "samples": {"pass_rate": 0.0}})
    with Station(config) as station:
        station.run(max_parts=3)
        rows = station.store.query("select reason, status, image_path from samples")
    assert len(rows) == 3 and {r["reason"] for r in rows} == {"failure"}
    assert all(r["status"] == "pending" and Path(r["image_path"]).is_file() for r in rows)


def test_production_model_comes_from_the_registry_and_is_verified(station_yaml: Path, tmp_path: Path,
                                                                  tiny_model: Path) -> None:
    from inspection.models.registry import ModelRegistry

    registry = ModelRegistry(tmp_path / "registry")
    record = registry.register(tiny_model, "board")
    registry.promote(record.id, "eve")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe.read_text() + "registry_product: board\n")
    config = load_station_config(station_yaml, {"model_registry": str(tmp_path / "registry")})
    with Station(config) as station:
        assert station.detector.model_id.startswith(f"{record.id}@")
    record.path.write_bytes(record.path.read_bytes() + b"tampered")
    with pytest.raises(ModelError, match="changed after registration"):
        Station(config).open()


def test_plc_job_change_switches_the_recipe_live(station_yaml: Path, tmp_path: Path, tiny_model: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(f"name: board-b\nmodel: {tiny_model}\ndefault:\n  min_confidence: 0.0\ndeadline_ms: 60000\n")
    foreign = tmp_path / "foreign.yaml"
    foreign.write_text(f"name: board-c\nmodel: {tmp_path / 'other_model.pt'}\n")
    config = load_station_config(station_yaml, {"jobs": {7: str(other), 8: str(foreign)},
                                                "detector": {"conf": 0.0001}})
    with Station(config) as station:
        assert station.change_job(7, "LOT-42").name == "board-b"
        summary = station.run(max_parts=2)
        assert summary.counts["FAIL"] == 2  # judged by the new recipe (every detection counts)
        with pytest.raises(ConfigError, match="job 3 is not under `jobs:`.*known jobs: 7, 8"):
            station.change_job(3)
        with pytest.raises(ConfigError, match="job 8 .* needs model .*other_model.pt.*stop the station"):
            station.change_job(8)
        for lot, why in (("L1\nERROR forged", "control characters"), ("ID\u202eSSAP", "control characters"),
                         ("X" * 65, "at most 64")):
            with pytest.raises(ConfigError, match=f"job 7: lot name .*{why}"):
                station.change_job(7, lot)  # from the PLC's string registers or an MES call: logged, shown
        assert station.recipe.name == "board-b"  # a refused change leaves the running recipe alone
        events = [e for e in station.store.events() if e["kind"] == "job_change"]
        assert len(events) == 1 and "LOT-42" in events[0]["message"]
        assert {r["recipe"] for r in station.store.inspections()} == {"board-b"}


def test_a_job_change_cannot_change_how_views_make_a_part(station_yaml: Path, tmp_path: Path,
                                                         tiny_model: Path) -> None:
    """The PLC result per part from several views is wired at start: a live change to a recipe with other
    `views:` would be acknowledged yet report one result per frame. Refused: it needs a restart."""
    views = tmp_path / "views.yaml"
    views.write_text(f"name: board-v\nmodel: {tiny_model}\nviews:\n  positions: 2\n")
    config = load_station_config(station_yaml, {"jobs": {9: str(views)}})
    with Station(config) as station:
        with pytest.raises(ConfigError, match=r"job 9 .* inspects the views position 1, position 2 per part, the "
                                              r"station runs one view: stop the station"):
            station.change_job(9)
        assert station.recipe.name == "test-board"


def test_one_recipe_judges_and_is_recorded_even_if_the_job_changes_meanwhile(
        station_yaml: Path, tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inspection.domain.judge import Judge

    other = tmp_path / "other.yaml"
    other.write_text(f"name: board-b\nmodel: {tiny_model}\n")
    config = load_station_config(station_yaml, {"jobs": {7: str(other)}})
    judged_by: list[str] = []
    real = Judge.judge

    def judge_then_change_job(self: Judge, *args: object, **kwargs: object) -> object:
        result = real(self, *args, **kwargs)
        judged_by.append(self.recipe.name)
        if len(judged_by) == 1:
            station.change_job(7)  # the PLC's job change lands between judging and recording
        return result

    monkeypatch.setattr(Judge, "judge", judge_then_change_job)
    with Station(config) as station:
        station.run(max_parts=3)
        recorded = [r["recipe"] for r in station.store.query("select recipe from inspections order by id")]
        single = station.inspect(next(iter([_frame()])))
    assert recorded == judged_by[:3] == ["test-board", "board-b", "board-b"]
    assert single.recipe == judged_by[-1] == "board-b"


def _frame() -> Frame:
    import numpy as np

    return Frame(np.zeros((96, 96, 3), np.uint8), "cam0", 99, 0.0)
