#!/usr/bin/env bash
# Run the GPU generation benchmark (bench/gpu.py).
#
#   bash bench/gpu.sh [gpu.py options]     on a machine with CUDA
#   bash bench/gpu.sh --prepare            here first, when the GPU machine cannot download
#
# --prepare writes bench/.gpu/ (ignored by git; set GPU_BENCH_FOLDER for another folder):
# the default model's tokenizer files, and wheels for Python ${GPU_PYTHON_VERSION:-3.12}
# on x86-64 Linux of the versions of transformers, pydantic-settings and their
# dependencies that .venv holds. Copy the checkout with bench/.gpu/ to a machine whose
# python3 (or $PYTHON) has a CUDA build of torch. There this script unpacks the wheels
# into a folder that it puts on PYTHONPATH. Without bench/.gpu/, it runs .venv/bin/python,
# or $PYTHON when set.
# NOTE: the wheel path has run only beside a CPU build of torch, not on a CUDA machine.
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${GPU_BENCH_FOLDER:-bench/.gpu}

if [[ "${1:-}" == "--prepare" ]]; then
  rm -rf "$folder"
  mkdir -p "$folder/wheels"
  .venv/bin/python - "$folder" <<'PYTHON'
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

from contentgen.generation.transformers import converted_folder, resolve_model
from contentgen.settings import Settings

folder = Path(sys.argv[1])
settings = Settings()
model = converted_folder(resolve_model(settings.model), settings.model_cache_dir)
(folder / "tokenizer").mkdir()
for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
    if (model / name).exists():
        shutil.copy(model / name, folder / "tokenizer" / name)
packages = ["transformers", "huggingface_hub", "kernels", "tokenizers", "safetensors",
            "pydantic", "pydantic-settings"]
(folder / "requirements.txt").write_text("".join(f"{name}=={version(name)}\n" for name in packages))
PYTHON
  python3 -m pip download --quiet --only-binary=:all: --dest "$folder/wheels" \
    --python-version "${GPU_PYTHON_VERSION:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --requirement "$folder/requirements.txt"
  du -sh "$folder"
  exit 0
fi

python=${PYTHON:-.venv/bin/python}
options=()
path=$PWD
if [[ -d "$folder/wheels" ]]; then
  python=${PYTHON:-python3}
  # The wheels go to a folder of their own, ahead of the base Python's packages on the path.
  # Torch and any other package without a wheel here come from the base Python.
  site=${TMPDIR:-/tmp}/contentgen-gpu-site
  "$python" -m pip install --quiet --no-index --no-deps --no-compile --upgrade \
    --target "$site" "$folder"/wheels/*.whl
  path=$site:$path
fi
if [[ -d "$folder/tokenizer" ]]; then
  options=(--tokenizer "$folder/tokenizer")
fi
export HF_HUB_OFFLINE=1 PYTHONPATH=$path${PYTHONPATH:+:$PYTHONPATH}
exec "$python" bench/gpu.py "${options[@]}" "$@"
