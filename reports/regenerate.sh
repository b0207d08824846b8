#!/usr/bin/env bash
# Regenerate the example reports of configs/default.yaml (tests/test_example_reports.py fails when stale).
# Run from anywhere: bash reports/regenerate.sh
# The memory target is a named GPU profile (the GPU GENESIS trains on; without one the figures have no
# capacity to fit), and no cache is used, so the reports do not depend on the machine or on earlier runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOURCE_DATE_EPOCH=1760000000 GENESIS_REPORT_NO_CACHE=1
unset GENESIS_REPORT_TARGET
python3 -m reporter --config configs/default.yaml --target H100-80GB \
  -o reports/default.html -o reports/default.md -o reports/default.json --quiet
