"""NNCF INT8 for the OpenVINO backend: the bundled solder model, calibrated on a few demo parts, gated."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inspection.adapters.registry import adapter_module
from inspection.demo import DEMO_DIR
from inspection.domain.types import Frame
from training.export import ExportReport, export_model
from training.int8_openvino import head_ignored_names

pytest.importorskip("nncf")
pytestmark = pytest.mark.slow  # export + quantization of a real yolov8n: ~30-60 s on 2 loaded cores

SOLDER = DEMO_DIR / "models" / "solder_yolov8n.pt"
IMGSZ = 160


@pytest.fixture(scope="module")
def int8_report(tmp_path_factory: pytest.TempPathFactory) -> ExportReport:
    work = tmp_path_factory.mktemp("int8_openvino")
    calib = work / "calib"
    calib.mkdir()
    for part in sorted((DEMO_DIR / "parts" / "solder").glob("*.jpg"))[:6]:
        shutil.copy2(part, calib / part.name)
    return export_model(SOLDER, "openvino", imgsz=IMGSZ, out=work / "solder.xml", int8=True, calibration=calib,
                        tolerance=1.0)


def _ops(path: Path) -> list:
    import openvino as ov

    return ov.Core().read_model(str(path)).get_ordered_ops()


def test_openvino_int8_is_an_nncf_ir_with_fake_quantize(int8_report: ExportReport) -> None:
    report = int8_report
    assert report.int8_accepted and report.int8_path is not None
    assert report.int8_path.name == "solder_int8.xml" and report.int8_path.with_suffix(".bin").is_file()
    assert report.int8_method.startswith("NNCF, accuracy control on 6 golden images")
    assert report.f1_fp32 == 1.0 and report.f1_int8 is not None and 0.0 <= report.f1_int8 <= 1.0
    assert report.int8_max_score_dev is not None and report.int8_max_score_dev < 1.0
    assert sum(op.get_type_name() == "FakeQuantize" for op in _ops(report.int8_path)) > 20
    assert report.fp32_ms and report.fp32_ms > 0 and report.int8_ms and report.int8_ms > 0
    assert report.fp32_precision in ("f32", "bf16")
    lines = "\n".join(report.lines())
    assert "INT8 ACCEPTED" in lines and "ms/image" in lines and str(report.int8_path) in lines


def test_int8_ir_runs_in_the_detector_like_the_fp32_one(int8_report: ExportReport) -> None:
    import cv2

    module = adapter_module("detector", "openvino")
    assert int8_report.int8_path is not None
    part = cv2.imread(str(sorted((DEMO_DIR / "parts" / "solder").glob("*.jpg"))[1]))
    found = {}
    for name, path in (("fp32", int8_report.path), ("int8", int8_report.int8_path)):
        detector = module.create(module.Options(model=path, conf=0.25))
        try:
            assert detector.meta.precision == ("int8" if name == "int8" else "fp32")
            assert detector.class_names == int8_report.meta.class_names
            found[name] = detector.detect(Frame(part, "cam0", 0, 0.0)).detections
        finally:
            detector.close()
    assert len(found["int8"]) == len(found["fp32"])  # the gate accepted F1 1.0 on these parts' FP32 detections


def test_the_head_post_processing_stays_float(int8_report: ExportReport) -> None:
    """ultralytics' ignored scope: Sigmoid, the head's own ops and its DFL float; its convolutions INT8."""
    fp32_ops = _ops(int8_report.path)
    names = head_ignored_names(_model(int8_report.path))
    head = next(op.get_friendly_name() for op in fp32_ops if op.get_type_name() == "Sigmoid").split("/")[1]
    assert f"/{head}/Sigmoid" in names and any(n.startswith(f"/{head}/dfl/") for n in names)
    assert f"/{head}/Concat" in names and not any("/cv2." in n or "/cv3." in n for n in names)
    whole = head_ignored_names(_model(int8_report.path), whole_head=True)
    assert set(names) < set(whole) and any("/cv3." in n for n in whole)

    assert int8_report.int8_path is not None
    int8 = {op.get_friendly_name(): op for op in _ops(int8_report.int8_path)}
    sigmoid = int8[f"/{head}/Sigmoid"]
    assert sigmoid.input_value(0).get_node().get_type_name() != "FakeQuantize"
    dfl = [op for name, op in int8.items() if name.startswith(f"/{head}/dfl/") and op.get_type_name() == "Convolution"]
    assert dfl and all(op.input_value(0).get_node().get_type_name() != "FakeQuantize" for op in dfl)
    quantized_head_convs = [op for name, op in int8.items() if name.startswith(f"/{head}/cv3.")
                            and op.get_type_name() == "Convolution"
                            and op.input_value(0).get_node().get_type_name() == "FakeQuantize"]
    assert quantized_head_convs  # the head's convolutions are where INT8 still saves time


def _model(path: Path):
    import openvino as ov

    return ov.Core().read_model(str(path))


def test_onnx_export_keeps_onnx_runtime_qdq(tmp_path: Path) -> None:
    """The ONNX backend keeps ONNX Runtime's QDQ INT8 (NNCF is for OpenVINO)."""
    import onnx

    calib = tmp_path / "calib"
    calib.mkdir()
    for part in sorted((DEMO_DIR / "parts" / "solder").glob("*.jpg"))[:3]:
        shutil.copy2(part, calib / part.name)
    report = export_model(SOLDER, "onnx", imgsz=96, out=tmp_path / "s.onnx", int8=True, calibration=calib,
                          tolerance=1.0)
    assert report.int8_method == "ONNX Runtime static QDQ" and report.int8_path is not None
    assert report.int8_path.suffix == ".onnx"
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(report.int8_path)).graph.node)
    assert np.isfinite(report.int8_ms or np.nan)


def test_cli_without_accuracy_control(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from inspection.cli import station

    calib = tmp_path / "calib"
    calib.mkdir()
    for part in sorted((DEMO_DIR / "parts" / "solder").glob("*.jpg"))[:3]:
        shutil.copy2(part, calib / part.name)
    out = tmp_path / "s.xml"
    result = CliRunner().invoke(station, ["export-model", "--model", str(SOLDER), "--format", "openvino",
                                          "--imgsz", "96", "-o", str(out), "--int8", "--calibration", str(calib),
                                          "--tolerance", "1.0", "--no-accuracy-control"])
    assert result.exit_code == 0, result.output
    assert "INT8 ACCEPTED" in result.output and "NNCF, no accuracy control" in result.output
    assert "ms/image" in result.output and (tmp_path / "s_int8.xml").is_file()
