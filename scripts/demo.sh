#!/usr/bin/env bash
# Set everything up and run the example campaigns with the real default model on this
# machine: SQLite in the working folder, no broker, chunks run in this process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1

contentgen=.venv/bin/contentgen
$contentgen db upgrade
$contentgen templates sync
# Exit code 3: the batch finished with failed requests, and its drafts are still shown.
$contentgen batch submit examples/*.yaml examples/products.csv --wait || [ $? -eq 3 ]
batch_id=$($contentgen batch list --limit 1 --json | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
$contentgen drafts list --batch "$batch_id"
