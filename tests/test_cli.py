"""The command line as users run it: outputs, formats, exit statuses, one-line errors.

Most calls run in-process (tests/inprocess.py); the tests marked `slow` start fresh processes where that
is the point (reproducibility across processes, the exit status a shell sees, the console script)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import jsonschema
import pytest
from helpers import CONFIGS, run_cli
from inprocess import run_main


def test_terminal_report_shows_exact_total():
    result = run_main("--config", "configs/default.yaml", "--no-memory")
    assert result.returncode == 0, result.stderr
    assert "Total Parameters:" in result.stdout and "98,648" in result.stdout
    assert "Parameters by Module Type" in result.stdout
    assert "Normalization Metadata" in result.stdout


def test_all_formats_written_and_json_validates(tmp_path):
    html, md, js = tmp_path / "r.html", tmp_path / "r.md", tmp_path / "r.json"
    result = run_main("--config", "configs/default.yaml", "-o", str(html), "-o", str(md), "-o", str(js),
                      "--quiet", "--no-memory")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    report = json.loads(js.read_text())
    schema = json.loads(run_main("--schema").stdout)
    jsonschema.validate(report, schema)
    assert report["summary"]["total_parameters"] == 98_648
    assert report["meta"]["schema_version"]
    assert report["meta"]["inputs"][0]["sha256"] and report["meta"]["inputs"][0]["role"] == "config"
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "98,648" in text and "<svg" in text
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org", "")
    md_text = md.read_text()
    assert "| **Total** | **98,648**" in md_text
    assert (tmp_path / "r_files" / "params-by-type.svg").read_text().startswith("<svg")
    assert "](r_files/params-by-type.svg)" in md_text


def test_markdown_embed_images_writes_no_side_files(tmp_path):
    md = tmp_path / "e.md"
    result = run_main("--config", "configs/default.yaml", "-o", str(md), "--embed-images", "-q", "--no-memory")
    assert result.returncode == 0, result.stderr
    assert "data:image/svg+xml;base64," in md.read_text()
    assert not (tmp_path / "e_files").exists()


def test_verbose_and_batch_size_options():
    result = run_main("--config", "configs/default.yaml", "--verbose", "--batch-size", "1024", "--no-memory")
    assert result.returncode == 0, result.stderr
    assert "blocks.0.attn" in result.stdout and "(48, 16)" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--config", "missing.yaml"], "missing.yaml: no such file"),
    (["--config", "configs"], "is a directory"),
    ([], "nothing to report on"),
    (["--config", "configs/default.yaml", "-o", "out.pdf"], "cannot tell the output format"),
])
def test_bad_input_exits_2_with_one_line(args, fragment, tmp_path):
    result = run_main(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_yaml_and_values_leave_no_output(tmp_path):
    for content in ("model: [1, 2\n", "model:\n  hidden: 20\n  heads: 8\n", "model:\n  architecture: gan\n", ""):
        cfg = tmp_path / "bad.yaml"
        cfg.write_text(content)
        out = tmp_path / "out.html"
        result = run_main("--config", str(cfg), "-o", str(out))
        assert result.returncode == 2, (content, result.stderr)
        assert str(cfg) in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not out.exists()
        assert [p.name for p in tmp_path.iterdir()] == ["bad.yaml"]


def test_unknown_architecture_lists_known_ones(tmp_path):
    cfg = tmp_path / "a.yaml"
    cfg.write_text("model:\n  architecture: gan\n")
    result = run_main("--config", str(cfg))
    assert result.returncode == 2
    for name in ("dit", "c-dit", "cnn", "resnet", "hybrid", "mlp"):
        assert name in result.stderr


@pytest.mark.slow
def test_reproducible_outputs(tmp_path):
    """A fresh process (another hash seed) writes the same bytes as this one. --no-memory: the memory
    section's bytes are checked against reports made by another process in test_example_reports.py."""
    env = {"SOURCE_DATE_EPOCH": "1760000000"}
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    outputs = []
    for run in ("fresh", "here"):
        folder = tmp_path / run
        folder.mkdir()
        paths = [folder / "r.html", folder / "r.md", folder / "r.json"]
        args = ["--config", str(CONFIGS / "default.yaml"), *sum((["-o", str(p)] for p in paths), []), "-q",
                "--no-memory"]
        result = run_cli(*args, env={**env, "PYTHONHASHSEED": seed}) if run == "fresh" else run_main(*args, env=env)
        assert result.returncode == 0, result.stderr
        outputs.append([p.read_bytes() for p in paths] +
                       [p.read_bytes() for p in sorted((folder / "r_files").iterdir())])
    assert outputs[0] == outputs[1]
    assert b"2025-10-09T08:53:20Z" in outputs[0][2]


@pytest.mark.slow
def test_exit_status_and_one_line_error_reach_the_shell(tmp_path):
    """The exit status of `main` is the process's (the in-process tests check `main`'s return value)."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"title": "x"}')
    result = run_cli("compare", str(bad), str(bad))  # archived JSON reports only: torch is never imported
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"genesis-report: error: {bad}: not a genesis-report JSON report")


@pytest.mark.slow
def test_python_m_and_console_script_agree():
    import shutil
    import subprocess

    # The script lies beside this interpreter when the venv is used without being activated.
    beside = Path(sys.executable).parent / "genesis-report"
    exe = str(beside) if beside.is_file() else shutil.which("genesis-report")
    if exe is None:
        pytest.skip("genesis-report console script not installed in this environment")
    result = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("genesis-report ")
    assert result.stdout == run_cli("--version").stdout


def test_model_class_report(tmp_path, monkeypatch):
    (tmp_path / "tinynet.py").write_text(
        "import torch\nfrom torch import nn\n"
        "class Tiny(nn.Module):\n"
        "    def __init__(self, hidden: int = 8):\n"
        "        super().__init__()\n"
        "        self.a = nn.Linear(4, hidden)\n"
        "        self.b = nn.Linear(hidden, 2)\n"
        "    def forward(self, x):\n"
        "        return self.b(torch.relu(self.a(x)))\n"
        "    @staticmethod\n"
        "    def example_inputs(batch_size):\n"
        "        return {'x': torch.randn(batch_size, 4)}\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  hidden: 16\n")
    out = tmp_path / "t.json"
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tinynet", raising=False)  # dropped again after the test
    result = run_main("--config", str(cfg), "--model-class", "tinynet:Tiny", "-o", str(out), "-q", "--no-memory")
    sys.modules.pop("tinynet", None)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["summary"]["total_parameters"] == 4 * 16 + 16 + 16 * 2 + 2
    assert report["summary"]["model_class"] == "Tiny"
    steps = [s["name"] for stage in report["flow"]["stages"] for s in stage["steps"]]
    assert "a" in steps and "b" in steps
