#!/usr/bin/env bash
# Quick start 2: set up .venv and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
bash scripts/setup-browser.sh   # Chromium + chromedriver for tests/viewer
export MPLBACKEND=Agg
.venv/bin/python -m pytest -q "$@"
