#!/usr/bin/env bash
# One command on a CUDA machine: install what is needed, run the station bench with TensorRT FP16 and CUDA
# torch (bench/bench_gpu.py), the CPU-peer bench for reference, and the tests that need a GPU.
# Usage (repository root): bash bench/gpu.sh [--imgsz 640] [--frames 300] [--model M.pt] [--images DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# The pip torch wheel on x86_64 Linux is the CUDA build; TensorRT comes as the `tensorrt` wheel.
$PY -m pip install -q -e ".[train]"
$PY -c "import tensorrt" 2>/dev/null || $PY -m pip install -q "tensorrt>=10,<11" onnx
$PY -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA GPU'; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
$PY -c "import tensorrt; print('tensorrt', tensorrt.__version__)"
echo "== TensorRT FP16 and CUDA torch, station vs peer"
$PY bench/bench_gpu.py --imgsz 640 "$@"
echo "== tests that need a GPU"
# None today: the TensorRT adapter's tests skip without the package/GPU; run them here, where they can run.
$PY -m pytest -q -rs tests/inspection/inference -k "tensorrt or cuda or gpu" || [ $? -eq 5 ]  # 5: none collected
