"""Every shipped config gives a complete, schema-valid JSON report whose tables sum to the total, and
Markdown and terminal text that read as written (tests/reading_checks.py)."""

from __future__ import annotations

import jsonschema
import pytest
from helpers import CONFIGS
from reading_checks import check_markdown, check_terminal, report_in_three_formats

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
    report, markdown, terminal = report_in_three_formats(tmp_path, "--config", str(CONFIGS / name),
                                                         "--batch-size", "8", "--target", "cpu")
    check_markdown(report, markdown)
    check_terminal(terminal)
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
