"""The GPU benchmark script runs its whole path on a CPU with a two-layer model."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# The script takes its tokenizer from the default model.
pytestmark = pytest.mark.model

REPOSITORY = Path(__file__).resolve().parents[2]


def run_gpu_script(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    # A GPU_BENCH_FOLDER that does not exist keeps prepared wheels out, so the script runs
    # this Python.
    env = {**os.environ, "PYTHON": sys.executable, "GPU_BENCH_FOLDER": str(tmp_path / "none")}
    return subprocess.run(
        ["bash", "bench/gpu.sh", "--layers", "2", *options],
        cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_gpu_benchmark_runs_on_cpu(tmp_path):
    result = run_gpu_script(
        tmp_path, "--device", "cpu", "--chunk-sizes", "2,3", "--max-new-tokens", "4"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rates = re.findall(r"chunk +(\d+): +(\d+) tokens/s \((\d+) tokens", result.stdout)
    assert [(int(size), int(tokens)) for size, _, tokens in rates] == [(2, 8), (3, 12)]
    assert all(int(rate) > 0 for _, rate, _ in rates)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_gpu_benchmark_without_cuda_fails(tmp_path):
    result = run_gpu_script(tmp_path)
    assert result.returncode != 0
    assert "sees no CUDA device" in result.stderr
    assert "--device cpu" in result.stderr
