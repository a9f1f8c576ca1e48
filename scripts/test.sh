#!/usr/bin/env bash
# Install (see setup.sh), lint with ruff and run the test suite. Extra arguments go to pytest, e.g.
#   bash scripts/test.sh -m "not integration"   # without PostgreSQL and Redis
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check --quiet .
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
