"""What the command line says to a person: one phrasing per error kind, hints that point at the cause,
checks made before the work starts, and help that lists what is accepted (issue 12 §9)."""

from __future__ import annotations

import json

import pytest
from helpers import CONFIGS
from inprocess import run_main

from reporter.cli import build_parser, main

MODULE = """
import torch
from torch import nn

class Plain(nn.Module):
    def __init__(self, hidden: int = 8):
        super().__init__()
        self.a = nn.Linear(4, hidden)

    def forward(self, x):
        return self.a(x)
"""


@pytest.mark.parametrize("args", [
    ["--config", "missing.yaml"],
    ["--checkpoint", "missing.pt"],
    ["missing-task-folder"],
    ["compare", "configs/default.yaml", "missing.yaml"],
])
def test_a_missing_input_is_said_one_way(args):
    result = run_main(*args)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("genesis-report: error: missing")
    assert line.endswith((": no such file", ": no such file or folder")), line


def test_a_missing_output_folder_fails_before_the_analysis(monkeypatch, tmp_path):
    import reporter.pipeline

    def analysed(*args, **kwargs):
        raise AssertionError("the analysis ran although the report could not be written")

    monkeypatch.setattr(reporter.pipeline, "config_report", analysed)
    result = run_main("--config", CONFIGS / "default.yaml", "-o", tmp_path / "missing" / "r.html")
    assert result.returncode == 2
    assert result.stderr.strip() == f"genesis-report: error: {tmp_path / 'missing'}: no such folder"
    assert run_main("compare", "configs/default.yaml", "configs/debug.yaml", "-o",
                    tmp_path / "missing" / "c.md").stderr.strip().endswith(": no such folder")


def test_format_help_lists_txt_and_txt_is_the_terminal_text(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1760000000")  # both runs print the same generation time
    assert "{terminal,txt,html,md,json}" in build_parser().format_help()
    out = tmp_path / "report.out"
    assert run_main("--config", CONFIGS / "debug.yaml", "--no-memory", "--format", "txt", "-o", out,
                    "-q").returncode == 0
    assert out.read_text(encoding="utf-8") == run_main("--config", CONFIGS / "debug.yaml", "--no-memory").stdout


def test_model_class_in_the_current_folder_gets_a_hint_and_the_yaml_is_not_blamed(monkeypatch, tmp_path, capsys):
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "nets.py").write_text(MODULE)
    (tmp_path / "my.yaml").write_text("model:\n  hidden: 16\n")
    monkeypatch.chdir(tmp_path)
    assert main(["--model-class", "mypkg.nets:Plain", "--config", "my.yaml", "--no-memory", "-q"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("genesis-report: error: --model-class: cannot import module 'mypkg.nets'"), error
    assert "my.yaml" not in error
    assert "the current folder, which is not on the import path; run with PYTHONPATH=." in error


def test_model_class_without_example_inputs_is_reported_without_traced_sections(monkeypatch, tmp_path):
    (tmp_path / "plainnet.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "c.yaml").write_text("model:\n  hidden: 16\n")
    out = tmp_path / "r.json"
    result = run_main("--model-class", "plainnet:Plain", "--config", tmp_path / "c.yaml", "-o", out, "-q")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["summary"]["total_parameters"] == 4 * 16 + 16
    assert report["flow"] is None and report["memory"] is None
    skipped = {f["code"]: f["message"] for f in report["findings"]}
    for code in ("flow.untraceable", "memory.untraceable"):
        assert "Plain has no example_inputs" in skipped[code]
