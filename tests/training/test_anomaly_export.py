"""ONNX / OpenVINO export: the same scores and maps as torch, with the threshold inside the file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

from inspection.anomaly import AnomalyRuntime
from inspection.anomaly.detector import AnomalyDetector
from inspection.anomaly.testing import surface
from inspection.domain.types import Frame
from inspection.errors import ModelError
from training.anomaly_export import export_anomaly

SIZE = (160, 160)


@pytest.fixture(scope="module")
def exported(anomaly_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export")
    source = shutil.copy(anomaly_model_path, folder / "surface.npz")
    return {"npz": Path(source), "onnx": export_anomaly(source, "onnx"), "openvino": export_anomaly(source, "openvino")}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_export_matches_torch(exported: dict[str, Path], fmt: str) -> None:
    reference, runtime = AnomalyRuntime(exported["npz"], threads=1), AnomalyRuntime(exported[fmt], threads=1)
    assert runtime.backend == fmt and runtime.meta == reference.meta  # threshold and rules travel with it
    images = [surface(40, SIZE), surface(41, SIZE, defect=True)]
    ref_maps, ref_scores = reference.score_images(images)
    maps, scores = runtime.score_images(images)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4)
    np.testing.assert_allclose(maps, ref_maps, rtol=1e-3, atol=1e-3 * float(ref_maps.max()))


@pytest.mark.slow
def test_exported_model_is_a_detector_with_the_same_verdict(exported: dict[str, Path]) -> None:
    frame = Frame(surface(42, SIZE, defect=True, at=(80, 80)), "cam0", 1, time.time())
    torch_out = AnomalyDetector(exported["npz"]).detect(frame).detections
    onnx_out = AnomalyDetector(exported["onnx"]).detect(frame).detections
    assert torch_out and len(onnx_out) == len(torch_out)
    assert onnx_out[0].box == pytest.approx(torch_out[0].box, abs=1.0)


def test_onnx_without_anomaly_metadata_is_refused(exported: dict[str, Path], tmp_path: Path) -> None:
    proto = onnx.load(str(exported["onnx"]))
    del proto.metadata_props[:]
    stripped = tmp_path / "stripped.onnx"
    onnx.save(proto, str(stripped))
    with pytest.raises(ModelError, match="without anomaly metadata"):
        AnomalyRuntime(stripped)


def test_export_refuses_unknown_format_and_wrong_suffix(exported: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="export format"):
        export_anomaly(exported["npz"], "tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"\.onnx file"):
        export_anomaly(exported["npz"], "onnx", tmp_path / "model.xml")
