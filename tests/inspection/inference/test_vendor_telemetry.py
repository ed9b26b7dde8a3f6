"""No network at run time: OpenVINO's model converter (also under ultralytics' export and NNCF) must not write a
client id to ~/intel or post usage telemetry. Each case runs in a fresh interpreter with its own HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")

CONVERT = """
import sys
{block}
import onnx
from onnx import TensorProto, helper
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
import openvino as ov
ov.convert_model(sys.argv[1])
from openvino.tools.ovc import convert_impl
print(convert_impl.tm.__name__)
"""


def _convert(tmp_path: Path, block: str) -> tuple[str, bool]:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    env.pop("CI", None)  # the vendor's own "CI" opt-out must not be what keeps this test quiet
    out = subprocess.run([sys.executable, "-c", CONVERT.format(block=block), str(tmp_path / "m.onnx")], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1], (home / "intel").exists()


def test_the_station_blocks_openvinos_converter_telemetry(tmp_path: Path) -> None:
    module, wrote_home = _convert(tmp_path, "from inspection.inference.offline import ensure_offline\nensure_offline()")
    assert module == "openvino.tools.ovc.telemetry_stub" and not wrote_home


def test_without_the_block_the_converter_would_send_it(tmp_path: Path) -> None:
    """The control: what block_vendor_telemetry exists for (if a release drops the telemetry, this says so)."""
    module, wrote_home = _convert(tmp_path, "")
    if module != "openvino_telemetry":
        pytest.skip(f"this OpenVINO converter sends no telemetry ({module}); the block is a no-op")
    assert wrote_home
