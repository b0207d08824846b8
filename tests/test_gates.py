"""CI gates: each gate passes and fails with the right exit status, after writing the report."""

from __future__ import annotations

import json
import re

import pytest
from helpers import default_config, write_yaml
from inprocess import run_main as run_cli

from reporter.errors import InputError
from reporter.gates import Gates, evaluate_facts, parse_fail_on, parse_size
from reporter.report.base import Finding, Severity


def test_sizes_binary_and_decimal():
    assert parse_size("24GiB") == 24 * 2**30
    assert parse_size("24G") == 24 * 2**30
    assert parse_size("80GB") == 80 * 10**9
    assert parse_size("512 MiB") == 512 * 2**20
    assert parse_size("1.5KiB") == 1536
    assert parse_size("1000") == 1000
    with pytest.raises(InputError):
        parse_size("lots")


def test_fail_on_tokens():
    assert parse_fail_on("nan, unsafe,config.unknown-key") == ["nan", "unsafe", "config.unknown-key"]
    with pytest.raises(InputError):
        parse_fail_on("nan,Bad Token!")


def _facts(**overrides):
    facts = {"total_parameters": 100, "peak_memory_bytes": 2 * 2**30, "batch_size": 512, "target": "cuda",
             "non_finite": False}
    return {**facts, **overrides}


def test_gate_logic_on_facts():
    limit = Gates(max_memory_bytes=2 * 2**30, max_params=100)
    assert evaluate_facts(_facts(), [], limit) == []
    reasons = evaluate_facts(_facts(peak_memory_bytes=2 * 2**30 + 1, total_parameters=101), [], limit)
    assert reasons[0] == "max-params: 101 parameters > limit 100"
    assert reasons[1].startswith("max-memory: predicted peak 2.00 GiB (2,147,483,649 B) at batch size 512, "
                                 "target cuda > limit")
    nan = Gates(fail_on=["nan"])
    assert evaluate_facts(_facts(), [], nan) == []
    assert evaluate_facts(_facts(non_finite=True), [], nan) == ["nan: the checkpoint holds NaN or infinite values"]
    security = [Finding(severity=Severity.security, code="checkpoint.pickle-global", message="os.system")]
    assert evaluate_facts(_facts(), security, Gates(fail_on=["unsafe"]))[0].startswith("unsafe: 1 finding: ")
    assert evaluate_facts(_facts(), security * 2, Gates(fail_on=["unsafe"]))[0].startswith("unsafe: 2 findings: ")
    # The same byte units as the report's tables: TiB, not thousands of GiB.
    huge = evaluate_facts(_facts(peak_memory_bytes=4 * 2**40), [], limit)
    assert huge[0].startswith("max-memory: predicted peak 4.00 TiB (4,398,046,511,104 B)")
    warning = [Finding(severity=Severity.warning, code="config.unknown-key", message="unknown key `foo`")]
    assert evaluate_facts(_facts(), warning, Gates(fail_on=["unsafe", "error"])) == []
    assert evaluate_facts(_facts(), warning, Gates(fail_on=["warning"])) != []
    assert evaluate_facts(_facts(), warning, Gates(fail_on=["config."])) != []
    assert evaluate_facts(_facts(), warning, Gates(fail_on=["config.other"])) == []


def test_max_params_passes_and_fails(tmp_path):
    out = tmp_path / "r.json"
    ok = run_cli("--config", "configs/default.yaml", "--max-params", "98648", "-o", str(out), "-q", "--no-memory")
    assert ok.returncode == 0, ok.stderr
    out.unlink()
    bad = run_cli("--config", "configs/default.yaml", "--max-params", "98647", "-o", str(out), "-q", "--no-memory")
    assert bad.returncode == 1
    assert "gate failed: max-params: 98,648 parameters > limit 98,647" in bad.stderr
    assert json.loads(out.read_text())["summary"]["total_parameters"] == 98_648  # written before failing


def test_fail_on_finding_codes_and_severities(tmp_path):
    cfg = default_config()
    cfg["model"]["hiden"] = 32  # typo: an unknown key GENESIS would reject
    path = write_yaml(tmp_path / "typo.yaml", cfg)
    assert run_cli("--config", str(path), "--fail-on", "nan,unsafe", "-q", "--no-memory").returncode == 0
    assert run_cli("--config", str(path), "--fail-on", "error", "-q", "--no-memory").returncode == 1  # rejected key
    failed = run_cli("--config", str(path), "--fail-on", "config.unknown-key", "-q", "--no-memory")
    assert failed.returncode == 1 and "gate failed: config.unknown-key: 1 finding: " in failed.stderr
    assert run_cli("--config", str(path), "--fail-on", "warning", "-q", "--no-memory").returncode == 1
    assert run_cli("--config", "configs/default.yaml", "--fail-on", "warning", "--no-memory", "-q").returncode == 0


def test_max_memory_gate(tmp_path):
    # On an H100 in fp16 (flash attention) the default model at batch 512 needs a few GiB.
    target = ["--config", "configs/default.yaml", "--target", "H100-80GB", "-q"]
    ok = run_cli(*target, "--max-memory", "80GiB")
    small = run_cli(*target, "--max-memory", "1KiB")
    assert ok.returncode == 0, ok.stderr
    assert small.returncode == 1 and "gate failed: max-memory: predicted peak" in small.stderr
    assert "target H100-80GB" in small.stderr
    # Without a memory prediction the limit cannot be checked: fail loudly rather than pass silently.
    unchecked = run_cli("--config", "configs/default.yaml", "--no-memory", "--max-memory", "80GiB", "-q")
    assert unchecked.returncode == 1 and "has no memory prediction" in unchecked.stderr


@pytest.mark.parametrize("args", [["--max-memory", "much"], ["--fail-on", "nan,??"], ["--max-params", "-1"]])
def test_bad_gate_flags_exit_2_before_any_output(tmp_path, args):
    out = tmp_path / "r.html"
    result = run_cli("--config", "configs/default.yaml", *args, "-o", str(out))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists()


def test_summary_markdown_is_appended(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("# CI\n\n")
    run_cli("--config", "configs/default.yaml", "--summary-md", str(summary), "-q")  # with a memory prediction
    run_cli("--config", "configs/default.yaml", "--max-params", "10", "--summary-md", str(summary), "-q", "--no-memory")
    text = summary.read_text()
    assert text.startswith("# CI\n\n")
    assert text.count("### genesis-report: icecube\\_diffusion\\_default") == 2  # Markdown-escaped
    assert "| 98,648 | PMTDit (`dit`) | 512 |" in text
    assert "— ✅ passed" not in text.split("###")[1]  # no gates given: a plain report block
    assert "❌ failed" in text and "- max-params: 98,648 parameters &gt; limit 10" in text
    first, second = text.split("###")[1:]
    assert re.search(r"\| 512 \| [\d,]+\.\d\d GiB \|", first) and "| 512 | — |" in second  # predicted peak, or none
