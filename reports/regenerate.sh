#!/usr/bin/env bash
# Regenerate the example reports of configs/default.yaml (tests/test_example_reports.py fails when stale).
# Run from anywhere: bash reports/regenerate.sh
# The memory target is a named GPU profile so the reports do not depend on this machine's RAM (the default
# target, cpu, uses the capacity of the machine the report is made on).
set -euo pipefail
cd "$(dirname "$0")/.."
export SOURCE_DATE_EPOCH=1760000000
python3 -m reporter --config configs/default.yaml --target H100-80GB \
  -o reports/default.html -o reports/default.md -o reports/default.json --quiet
