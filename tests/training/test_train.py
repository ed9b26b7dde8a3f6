"""A tiny end-to-end training run: offline, from scratch, with its model card; then evaluation and the CLI."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from inspection.simulation.synthetic import SolderGenerator, write_yolo_dataset
from training.cli import eval_command
from training.evaluate import evaluate
from training.train import data_version, ship_run, train_detector

pytestmark = pytest.mark.slow


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record (and refuse) every outgoing connection."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_tiny_training_end_to_end(tmp_path: Path, no_network: list[object]) -> None:
    gen = SolderGenerator(seed=4, size=(64, 64))
    data = write_yolo_dataset(gen, tmp_path / "data", n_train=8, n_val=4, n_test=4)
    out = tmp_path / "models" / "tiny.pt"
    result = train_detector(data, out, epochs=1, imgsz=64, batch=4, device="cpu", runs_dir=tmp_path / "runs")
    assert out.is_file() and out.stat().st_size < 20_000_000
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data_version"] == gen.data_version == data_version(data)
    assert card["epochs"] == 1 and card["classes"] == list(gen.classes) and card["train_seconds"] > 0
    assert "metrics/mAP50(B)" in card["val_metrics"]
    assert out.with_suffix(".md").read_text().startswith("# tiny.pt")
    assert result.card.model == "tiny.pt"
    # one optimizer step per batch: small station data sets must not be starved by gradient accumulation
    assert torch.load(out, map_location="cpu", weights_only=False)["train_args"]["nbs"] == 4
    again = ship_run(result.run_dir, tmp_path / "models" / "again.pt", notes="interrupted")
    assert again.epochs == 1 and again.classes == list(gen.classes) and again.data_version == gen.data_version
    assert (tmp_path / "models" / "again.md").read_text().count("interrupted") == 1

    report = evaluate(data, out, "test", 0.25, tmp_path / "eval", device="cpu")
    assert report.images == 4 and (tmp_path / "eval" / "pr_curve.png").is_file()
    assert 0.0 <= report.map50 <= 1.0

    cli = CliRunner().invoke(eval_command, ["--data", str(data), "--model", str(out), "--out", str(tmp_path / "e2")])
    assert cli.exit_code == 0, cli.output
    assert "escape rate" in cli.output and (tmp_path / "e2" / "metrics.json").is_file()
    assert no_network == []


def test_eval_cli_reports_a_missing_split(tmp_path: Path) -> None:
    data = write_yolo_dataset(SolderGenerator(seed=1, size=(64, 64)), tmp_path / "d", n_train=1, n_val=1)
    model = tmp_path / "m.pt"
    model.write_bytes(b"")
    cli = CliRunner().invoke(eval_command, ["--data", str(data), "--model", str(model), "--split", "test"])
    assert cli.exit_code != 0 and "no split 'test'" in cli.output


def test_training_continues_from_a_checkpoint(tmp_path: Path) -> None:
    """A .pt given as model_cfg is where training starts: with a zero learning rate the weights stay as they were."""
    gen = SolderGenerator(seed=5, size=(64, 64))
    data = write_yolo_dataset(gen, tmp_path / "data", n_train=4, n_val=2, n_test=0)
    first = train_detector(data, tmp_path / "a.pt", epochs=1, imgsz=64, batch=4, device="cpu",
                           runs_dir=tmp_path / "runs").weights
    frozen = {"lr0": 0.0, "warmup_bias_lr": 0.0, "warmup_epochs": 0.0, "optimizer": "AdamW"}
    second = train_detector(data, tmp_path / "b.pt", model_cfg=str(first), epochs=1, imgsz=64, batch=4,
                            device="cpu", runs_dir=tmp_path / "runs", extra=frozen).weights

    def first_conv(path: Path) -> torch.Tensor:
        return torch.load(path, map_location="cpu", weights_only=False)["model"].model[0].conv.weight.float()

    assert torch.equal(first_conv(first), first_conv(second))
    scratch = train_detector(data, tmp_path / "c.pt", epochs=1, imgsz=64, batch=4, device="cpu",
                             runs_dir=tmp_path / "runs", extra={**frozen, "seed": 1}).weights
    assert not torch.equal(first_conv(first), first_conv(scratch))  # a fresh start differs: the check can fail


def test_training_runs_on_the_threads_asked_for(tmp_path: Path) -> None:
    """ultralytics resets torch to cpu_count - 1 threads on the CPU; `threads` must win, and the card says so."""
    gen = SolderGenerator(seed=6, size=(64, 64))
    data = write_yolo_dataset(gen, tmp_path / "data", n_train=4, n_val=2, n_test=0)
    before = torch.get_num_threads()
    try:
        card = train_detector(data, tmp_path / "t.pt", epochs=1, imgsz=64, batch=4, device="cpu", threads=3,
                              runs_dir=tmp_path / "runs").card
    finally:
        torch.set_num_threads(before)
    assert card.environment["threads"] == "3"


def test_segmenter_warm_started_from_a_detector_and_evaluated_by_size(tmp_path: Path) -> None:
    """`station train --task segment --init-weights DETECTOR` keeps the detector's layers (the card says so), and
    `station eval --size-recipe` writes the size report of the segmenter."""
    from training.cli import train_command

    gen = SolderGenerator(seed=7, size=(64, 64))
    data = write_yolo_dataset(gen, tmp_path / "data", n_train=4, n_val=2, n_test=2, task="segment")
    detector = train_detector(data, tmp_path / "det.pt", epochs=1, imgsz=64, batch=4, device="cpu",
                              runs_dir=tmp_path / "runs").weights
    out = tmp_path / "seg.pt"
    cli = CliRunner().invoke(train_command, ["--data", str(data), "--task", "segment", "--model-cfg",
                                             "yolov8n-seg.yaml", "--init-weights", str(detector), "--epochs", "1",
                                             "--imgsz", "64", "--batch", "4", "--device", "cpu", "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["task"] == "segment" and "initialised from the matching layers of det.pt" in card["model_cfg"]

    def first_conv(path: Path) -> torch.Tensor:
        return torch.load(path, map_location="cpu", weights_only=False)["model"].model[0].conv.weight.float().ravel()

    similarity = torch.nn.functional.cosine_similarity(first_conv(detector), first_conv(out), dim=0)
    assert similarity > 0.9  # a fresh start would be unrelated (about 0)

    recipe = tmp_path / "sized.yaml"
    recipe.write_text("name: sized\npixel_size_mm: 0.05\nmeasure: {calibration: nominal}\n"
                      "default: {min_confidence: 0.01}\n")
    cli = CliRunner().invoke(eval_command, ["--data", str(data), "--model", str(out), "--device", "cpu", "--out",
                                            str(tmp_path / "e"), "--size-recipe", str(recipe)])
    assert cli.exit_code == 0, cli.output
    sizes = json.loads((tmp_path / "e" / "sizes-sized" / "sizes.json").read_text())
    assert sizes["images"] == 2 and sizes["truth_rejects"] + sizes["truth_passes"] == 2
    assert "size-based verdicts under sized" in cli.output


def test_segmenter_trained_only_on_masks_keeps_the_detector_bit_identical(tmp_path: Path) -> None:
    """`--train-only masks` freezes backbone, neck, box/class branches and their BatchNorm statistics: every one of
    those tensors in the shipped segmenter equals the detector's, bit for bit; only proto and cv4 are new."""
    from training.cli import train_command
    from training.train import frozen_tensors_changed, mask_branch_freeze

    gen = SolderGenerator(seed=8, size=(64, 64))
    data = write_yolo_dataset(gen, tmp_path / "data", n_train=4, n_val=2, n_test=0, task="segment")
    detector = train_detector(data, tmp_path / "det.pt", epochs=1, imgsz=64, batch=4, device="cpu",
                              runs_dir=tmp_path / "runs").weights
    out = tmp_path / "seg.pt"
    args = ["--data", str(data), "--task", "segment", "--model-cfg", "yolov8n-seg.yaml", "--init-weights",
            str(detector), "--epochs", "1", "--imgsz", "64", "--batch", "4", "--device", "cpu", "--out", str(out)]
    cli = CliRunner().invoke(train_command, [*args, "--train-only", "masks"])
    assert cli.exit_code == 0, cli.output

    freeze = mask_branch_freeze("yolov8n-seg.yaml")
    assert freeze[:22] == list(range(22)) and freeze[22:] == ["22.cv2", "22.cv3", "22.dfl"]
    compared, changed = frozen_tensors_changed(detector, out, freeze)
    assert changed == [] and compared > 300  # weights, biases and BatchNorm running statistics
    seg = torch.load(out, map_location="cpu", weights_only=False)["model"].state_dict()
    det = torch.load(detector, map_location="cpu", weights_only=False)["model"].state_dict()
    assert any(k.startswith("model.22.proto.") for k in seg) and not any(k.startswith("model.22.proto.") for k in det)
    card = json.loads(out.with_suffix(".json").read_text())
    assert f"{compared} of {compared} frozen tensors are bit-identical to det.pt" in card["notes"]

    # the check can fail: one nudged BatchNorm statistic is reported by name
    ckpt = torch.load(out, map_location="cpu", weights_only=False)
    ckpt["model"].model[3].bn.running_mean += 1e-3
    torch.save(ckpt, tmp_path / "nudged.pt")
    assert frozen_tensors_changed(detector, tmp_path / "nudged.pt", freeze)[1] == ["model.3.bn.running_mean"]

    refused = CliRunner().invoke(train_command, [*args[:4], "--train-only", "masks", "--out", str(out)])
    assert refused.exit_code != 0 and "needs --task segment and --init-weights" in refused.output


@pytest.mark.parametrize(("cfg", "message"), [("yolov8n.yaml", "not a Segment head"),
                                              ("paint.pt", "needs an architecture YAML")])
def test_mask_only_training_needs_a_segmentation_architecture(cfg: str, message: str) -> None:
    from training.train import mask_branch_freeze

    with pytest.raises(ValueError, match=message):
        mask_branch_freeze(cfg)
