"""Every shipped config gives a complete, schema-valid JSON report whose tables sum to the total."""

from __future__ import annotations

import json

import jsonschema
import pytest
from helpers import CONFIGS
from inprocess import run_main

from reporter.report.schema import report_json_schema

SCHEMA = report_json_schema()
SHIPPED = sorted(p.name for p in CONFIGS.glob("*.yaml"))


def test_every_architecture_has_a_shipped_config():
    import yaml

    architectures = {(yaml.safe_load((CONFIGS / n).read_text()).get("model") or {}).get("architecture", "dit")
                     for n in SHIPPED}
    assert architectures == {"dit", "c-dit", "cnn", "resnet", "hybrid", "mlp"}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_report(name, tmp_path):
    out = tmp_path / "x.json"
    result = run_main("--config", str(CONFIGS / name), "-o", str(out), "-q", "--batch-size", "8", "--target", "cpu")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    total = report["summary"]["total_parameters"]
    assert sum(g["parameters"] for g in report["parameters"]["by_type"]) == total
    assert sum(g["parameters"] for g in report["parameters"]["by_top_level"]) == total
    assert report["flow"]["total_params"] == total
    memory = report["memory"]
    assert memory["training_precision"] == "fp32"  # a CPU target trains fp32, as GENESIS does there
    exact = {r["key"]: r["fp32"] for r in memory["table"] if r["figure"] == "exact"}
    assert exact["parameters"] == total * 4
    assert memory["fp32"]["peak_bytes"] >= sum(exact.values())
    assert report["memory"]["flops"]["training_flops"] > report["memory"]["flops"]["forward_flops"] > 0
