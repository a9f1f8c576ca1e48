#!/usr/bin/env bash
# Run the GPU generation benchmark (bench/gpu.py) on a machine with CUDA, from a checkout
# with .venv set up by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 CONTENTGEN_DEVICE=cuda
exec .venv/bin/python bench/gpu.py "$@"
