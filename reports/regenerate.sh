#!/usr/bin/env bash
# Regenerate the example reports of configs/default.yaml (tests/test_example_reports.py fails when stale).
# Run from anywhere: bash reports/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SOURCE_DATE_EPOCH=1760000000
python3 -m reporter --config configs/default.yaml \
  -o reports/default.html -o reports/default.md -o reports/default.json --quiet
