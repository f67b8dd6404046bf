#!/usr/bin/env bash
# Quick start 1: set up .venv and analyse the shipped example stack in patterns/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
.venv/bin/phasetrace analyse patterns/p2o3_example/scans \
    --echem patterns/p2o3_example/echem.csv \
    --scan-log patterns/p2o3_example/scan_log.csv \
    --out phasetrace-out "$@"
echo "results written to phasetrace-out/"
