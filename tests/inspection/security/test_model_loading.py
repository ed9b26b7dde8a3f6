"""A trojan model file (a pickle that runs code when read) is fed to every load path; the code never runs.

Each payload touches a marker file when unpickled with a plain `torch.load(weights_only=False)` — the first
test proves that, so the other tests' "marker absent" means the path refused it, not that the payload is inert.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from inspection.errors import ModelError
from inspection.inference.model_files import check_model_file, safe_torch_load

DEMO_MODEL = Path(__file__).resolve().parents[3] / "inspection" / "demo" / "models" / "pcb_yolov8n.pt"


class _Exec:
    """Unpickling calls builtins.exec with code that creates the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


class _ChainLoad:
    """A subtler payload: calls an ultralytics *function* (not a layer class) that loads another file."""

    def __init__(self, other: Path) -> None:
        self.other = other

    def __reduce__(self):
        from ultralytics.nn.tasks import torch_safe_load

        return (torch_safe_load, (str(self.other), False))


@pytest.fixture
def trojan(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    path = tmp_path / "trojan.pt"
    # Looks like an ultralytics checkpoint at the top level; the payload hides in train_args.
    torch.save({"model": None, "train_args": _Exec(marker), "date": "2026-01-01"}, path)
    return path, marker


def test_the_payload_runs_under_a_plain_load(trojan):
    path, marker = trojan
    torch.load(path, weights_only=False)
    assert marker.exists()  # so "marker absent" below means the path refused the file


def test_check_names_the_payload(trojan):
    path, marker = trojan
    with pytest.raises(ModelError, match=r"builtins\.exec"):
        check_model_file(path)
    assert not marker.exists()


def test_chain_load_through_an_ultralytics_function_is_refused(tmp_path, trojan):
    inner, marker = trojan
    outer = tmp_path / "outer.pt"
    torch.save({"model": _ChainLoad(inner)}, outer)
    with pytest.raises(ModelError, match="torch_safe_load"):
        check_model_file(outer)
    assert not marker.exists()


def test_legacy_raw_pickle_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "legacy.pt"
    torch.save(_Exec(marker), path, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelError, match="legacy raw pickles"):
        check_model_file(path)
    assert not marker.exists()


def test_bundled_demo_model_passes():
    assert check_model_file(DEMO_MODEL) == DEMO_MODEL
    assert safe_torch_load(DEMO_MODEL)["model"].names


def test_detector_load_paths_refuse(trojan):
    from inspection.inference.torch_runtime import Options, UltralyticsDetector, create, load_yolo

    path, marker = trojan
    for attempt in (lambda: load_yolo(path), lambda: UltralyticsDetector(path, Options()),
                    lambda: create(Options(), model_path=path), lambda: create(Options(model=path))):
        with pytest.raises(ModelError, match="refused before loading"):
            attempt()
    assert not marker.exists()


def test_ultralytics_own_loader_is_restricted_too(trojan):
    """Second lock: even a path that skips our check reads the file with weights_only=True."""
    from inspection.inference.offline import ensure_offline

    ensure_offline()
    from ultralytics import YOLO

    path, marker = trojan
    with pytest.raises(Exception):  # noqa: B017 - ultralytics' own error type
        YOLO(str(path))
    assert not marker.exists()


def test_registry_refuses_to_register(tmp_path, trojan):
    from inspection.models.registry import ModelRegistry

    path, marker = trojan
    registry = ModelRegistry(tmp_path / "registry")
    with pytest.raises(ModelError, match="refused before loading"):
        registry.register(path, "pcb")
    assert registry.list() == []
    registry.close()
    assert not marker.exists()


def test_registered_file_swapped_for_a_trojan_is_refused(tmp_path, trojan):
    from inspection.models.registry import ModelRegistry

    path, marker = trojan
    registry = ModelRegistry(tmp_path / "registry")
    record = registry.register(DEMO_MODEL, "pcb")
    shutil.copyfile(path, record.path)  # someone with write access to the registry folder
    with pytest.raises(ModelError, match="changed after registration"):
        registry.promote(record.id, "someone", force=True)
    registry.close()
    assert not marker.exists()


def test_eval_train_init_and_export_refuse(tmp_path, trojan):
    from training.evaluate import _model_imgsz, predict_split
    from training.export import export_model
    from training.train import train_detector

    path, marker = trojan
    with pytest.raises(ModelError):
        predict_split(path, [], imgsz=64)
    with pytest.raises(ModelError):
        _model_imgsz(path)
    with pytest.raises(ModelError):
        train_detector(tmp_path / "data.yaml", tmp_path / "out.pt", model_cfg=str(path), epochs=1)
    with pytest.raises(ModelError):
        export_model(path, "onnx", out=tmp_path / "x.onnx")
    assert not marker.exists()


def test_joint_head_refuses(trojan):
    from inspection.aoi.classifier import _read_head

    path, marker = trojan
    with pytest.raises(ModelError):
        _read_head(path)
    assert not marker.exists()


def test_anomaly_npz_with_a_pickled_array_is_refused(tmp_path):
    from inspection.anomaly.model import load_npz_model

    marker = tmp_path / "PWNED"
    path = tmp_path / "anomaly.npz"
    bank = np.empty(1, dtype=object)
    bank[0] = _Exec(marker)
    np.savez(path, memory_bank=bank, meta=np.array("{}"))
    with pytest.raises(ModelError):
        load_npz_model(path)
    assert not marker.exists()


def test_station_with_a_trojan_recipe_model_refuses_to_start(station_yaml, trojan, tmp_path):
    from inspection.config import load_station_config
    from inspection.runtime.pipeline import Station

    path, marker = trojan
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("model: ", f"model: {path}\n# was: ", 1))
    with pytest.raises(ModelError, match="refused before loading"):
        Station(load_station_config(station_yaml)).open()
    assert not marker.exists()


def test_station_eval_and_train_init_commands_refuse(tmp_path, trojan):
    """The same through the command line: a clean error (exit 3), no payload."""
    from click.testing import CliRunner

    from inspection.cli import station
    from inspection.simulation.synthetic import SolderGenerator, write_yolo_dataset

    path, marker = trojan
    data = write_yolo_dataset(SolderGenerator(seed=1, size=(64, 64)), tmp_path / "d", n_train=1, n_val=1)
    runner = CliRunner()
    result = runner.invoke(station, ["eval", "--data", str(data), "--model", str(path), "--split", "val",
                                     "--device", "cpu", "--out", str(tmp_path / "eval")])
    assert result.exit_code == 3 and "refused before loading" in result.output, result.output
    result = runner.invoke(station, ["train", "--data", str(data), "--model-cfg", str(path), "--out",
                                     str(tmp_path / "m.pt"), "--epochs", "1", "--device", "cpu"])
    assert result.exit_code == 3 and "refused before loading" in result.output, result.output
    assert not marker.exists()
