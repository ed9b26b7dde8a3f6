"""Issue 9 end to end, through the public API and the CLI: run the station, override verdicts, review and
label the kept samples, build a dataset version, train a tiny model for an epoch, evaluate it on the golden
set, register, promote, and roll back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.config import load_station_config
from inspection.domain.permissions import Role, User
from inspection.domain.types import Box
from inspection.people.audit import Operations, OverrideRequest
from inspection.records.labels import Label, LabelBook
from inspection.records.samples import SampleKeeper
from inspection.records.store import Store
from inspection.runtime.pipeline import Station
from inspection.simulation.synthetic import SOLDER_CLASSES, SolderGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import make_untrained_yolo

pytestmark = pytest.mark.slow
OPERATOR, ENGINEER = User("otto", Role.OPERATOR), User("eve", Role.ENGINEER)


def invoke(*args: str) -> str:
    result = CliRunner().invoke(station, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_override_review_dataset_train_eval_promote_rollback(tmp_path: Path) -> None:
    generator = SolderGenerator(seed=7, size=(64, 64))
    parts = tmp_path / "parts"
    parts.mkdir()
    truth = {}
    for i in range(10):
        part = generator.part(i)
        cv2.imwrite(str(parts / f"p{i:02d}.png"), part.image)
        truth[f"p{i:02d}.png"] = [Label(d.class_name, Box(*d.box)) for d in part.defects]
    production_file = make_untrained_yolo(tmp_path / "production.pt", SOLDER_CLASSES, imgsz=64)
    (tmp_path / "recipe.yaml").write_text(f"name: board\nmodel: {production_file}\ndeadline_ms: 60000\n")
    (tmp_path / "station.yaml").write_text(
        f"data_dir: {tmp_path / 'data'}\nrecipe: recipe.yaml\n"
        f"cameras: [{{kind: replay, id: cam0, path: {parts}}}]\n"
        "detector: {kind: ultralytics, device: cpu, imgsz: 64}\n"
        "store: {keep_images: all}\nsamples: {pass_rate: 1.0}\n")

    # 1. the station inspects the parts and keeps them as samples
    config = load_station_config(tmp_path / "station.yaml")
    with Station(config) as line:
        assert line.run().parts == 10
    db = config.db_path
    with Store(db) as store:
        # 2. an operator overrides two verdicts: their samples go to the top of the queue
        defective = [r["id"] for r in store.query("select id, source from inspections order by id")
                     if truth[Path(store.query("select source from inspections where id = ?",
                                               [r["id"]])[0]["source"]).name]][:2]
        operations = Operations(store)
        for inspection_id in defective:
            operations.override(OPERATOR, OverrideRequest(inspection_id, "FAIL", "bridge visible at pin 3"))
        keeper = SampleKeeper(store, config.samples_dir, line.recipe, config.samples)
        queue = keeper.review_queue()
        assert len(queue) == 10 and [q["reason"] for q in queue[:2]] == ["override", "override"]
        # 3. the engineer labels every sample with what is really there; one goes to the golden set
        book = LabelBook(store)
        for sample in queue:
            source = store.query("select source from inspections where id = ?", [sample["inspection_id"]])
            book.replace(sample["id"], truth[Path(source[0]["source"]).name], ENGINEER)
        book.set_golden(queue[0]["id"], ENGINEER)

    # 4. a frozen dataset version, 5. a tiny training run, 6. evaluation on the golden split
    out = invoke("dataset", "build", "--db", str(db), "--out", str(tmp_path / "ds"), "--classes",
                 ",".join(SOLDER_CLASSES), "--val", "0.3")
    version = out.split(":")[0]
    data_yaml = tmp_path / "ds" / version / "data.yaml"
    assert data_yaml.is_file() and "golden 1" in out
    candidate = tmp_path / "candidate.pt"
    invoke("train", "--data", str(data_yaml), "--out", str(candidate), "--epochs", "1", "--imgsz", "64",
           "--batch", "4", "--device", "cpu", "--threads", "2")
    assert candidate.is_file()
    invoke("eval", "--data", str(data_yaml), "--model", str(production_file), "--split", "test", "--device", "cpu",
           "--out", str(tmp_path / "eval-prod"))
    out = invoke("eval", "--data", str(data_yaml), "--model", str(candidate), "--split", "test", "--device", "cpu",
                 "--out", str(tmp_path / "eval-cand"), "--baseline", str(production_file))
    assert "| escape rate |" in out and "candidate `" in out
    assert (tmp_path / "eval-cand" / "comparison.md").is_file()
    metrics = json.loads((tmp_path / "eval-cand" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["images"] == 1

    # 7. registry: production, candidate, promotion (forced: a one-epoch model is no better), rollback
    registry = str(tmp_path / "registry")
    ids = []
    for model, name in ((production_file, "prod"), (candidate, "cand")):
        out = invoke("models", "register", str(model), "--product", "board", "--registry", registry,
                     "--dataset-version", version, "--metrics", str(tmp_path / f"eval-{name}" / "metrics.json"))
        ids.append(out.split()[1])
    invoke("models", "promote", ids[0], "--registry", registry, "--by", "eve")
    invoke("models", "promote", ids[1], "--registry", registry, "--by", "eve", "--force")
    assert ids[1] in invoke("models", "list", "--registry", registry).split("production")[0]
    assert f"{ids[0]} is production again" in invoke("models", "rollback", "--product", "board",
                                                     "--registry", registry, "--by", "eve")
