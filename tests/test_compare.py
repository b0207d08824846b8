"""`genesis-report compare`: configs, checkpoints and archived JSON reports side by side."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import CONFIGS, REPO, write_yaml
from inprocess import run_main as run_cli

from reporter import pipeline


def _config_report(path, batch_size=None):
    return pipeline.config_report(str(path), pipeline.ReportOptions(batch_size=batch_size, memory=False))


def test_compare_two_configs_all_formats(tmp_path):
    outs = [tmp_path / f"cmp.{s}" for s in ("html", "md", "json", "txt")]
    flags = [a for o in outs for a in ("-o", str(o))]
    result = run_cli("compare", "configs/default.yaml", "configs/dit_film.yaml", *flags, "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads(outs[2].read_text())
    assert [c["label"] for c in data["columns"]] == ["default", "dit_film"]
    assert [c["kind"] for c in data["columns"]] == ["config", "config"]
    tables = {t["id"]: t for t in data["tables"]}
    config_rows = {r["key"]: r["values"] for r in tables["config"]["rows"]}
    assert config_rows["model.hidden"] == [16, 256] and config_rows["model.fusion"] == ["SUM", "FiLM"]
    assert "model.architecture" not in config_rows and "model.heads" not in config_rows  # equal keys are omitted
    assert all(r["differs"] for r in tables["config"]["rows"])
    film_total = _config_report(CONFIGS / "dit_film.yaml", batch_size=512).summary.total_parameters
    overview = {r["key"]: r["values"] for r in tables["overview"]["rows"]}
    assert overview["Total parameters"] == [98_648, film_total]
    for table in ("params-by-type", "params-by-module"):
        columns = list(zip(*[r["values"] for r in tables[table]["rows"]], strict=True))
        assert [sum(c) for c in columns] == [98_648, film_total], table
    html = outs[0].read_text()
    assert html.startswith("<!DOCTYPE html>") and "98,648" in html and f"{film_total:,}" in html
    assert html.count("<svg") == 3 and "<script" not in html  # parameters by type, by module; peak memory
    assert "Predicted peak memory" in html
    md = outs[1].read_text()
    assert "| `model.hidden` ≠ | 16 | 256 |" in md
    assert (tmp_path / "cmp_files" / "compare-params-by-type.svg").read_text().startswith("<svg")
    assert "≠ model.hidden" in outs[3].read_text()


def test_compare_analyses_every_config_at_one_batch_size(tmp_path):
    out = tmp_path / "c.json"
    assert run_cli("compare", "configs/default.yaml", "configs/small_model.yaml", "-o", str(out), "-q",
                   "--no-memory").returncode == 0
    data = json.loads(out.read_text())
    assert [c["batch_size"] for c in data["columns"]] == [512, 512]  # small_model alone would use its own 16
    assert data["notes"] == []
    assert run_cli("compare", "configs/small_model.yaml", "configs/default.yaml", "--batch-size", "64", "-o", str(out),
                   "-q", "--no-memory").returncode == 0
    assert [c["batch_size"] for c in json.loads(out.read_text())["columns"]] == [64, 64]


def test_compare_two_json_reports_without_torch(tmp_path):
    a, b = REPO / "reports" / "default.json", tmp_path / "b.json"  # a: archived, with a memory section
    assert run_cli("--config", "configs/mlp.yaml", "--batch-size", "8", "-o", str(b), "-q",
                   "--no-memory").returncode == 0
    out = tmp_path / "ab.json"
    code = ("import sys; from reporter.cli import main; rc = main(sys.argv[1:]); "
            "print(rc, any(m == 'torch' or m.startswith('torch.') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, "compare", str(a), str(b), "-o", str(out), "-q"],
                            cwd=REPO, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin"})
    assert result.stdout.split() == ["0", "False"], result.stderr
    data = json.loads(out.read_text())
    totals = [json.loads(p.read_text())["summary"]["total_parameters"] for p in (a, b)]
    overview = {r["key"]: r["values"] for t in data["tables"] if t["id"] == "overview" for r in t["rows"]}
    assert overview["Total parameters"] == totals and totals[0] == 98_648
    assert [c["kind"] for c in data["columns"]] == ["report", "report"]
    assert [i["role"] for i in data["meta"]["inputs"]] == ["report", "report"]
    assert "different batch sizes" in data["notes"][0]  # archived reports keep their own batch size


def test_compare_task_folder_report_json(tmp_path):
    from task_fixtures import make_task

    task = make_task(tmp_path, "t", checkpoints=False)
    assert run_cli(str(task), "-q", "--no-memory").returncode == 0
    result = run_cli("compare", str(task / "reports" / "report.json"), "configs/default.yaml", "--format", "json",
                     "--no-memory")
    assert result.returncode == 0, result.stderr
    rows = {t["id"]: t["rows"] for t in json.loads(result.stdout)["tables"]}
    assert rows["config"] == []  # the task's config.yaml is a copy of default.yaml


def test_compare_config_and_checkpoint(tmp_path):
    from task_fixtures import make_task

    task = make_task(tmp_path, "t")
    out = tmp_path / "c.json"
    result = run_cli("compare", "configs/default.yaml", str(task / "checkpoints" / "exp_best.pt"), "-o", str(out), "-q",
                     "--no-memory")
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [c["kind"] for c in data["columns"]] == ["config", "checkpoint"]
    rows = {r["key"]: r["values"] for t in data["tables"] if t["id"] == "checkpoint" for r in t["rows"]}
    assert rows["Best loss"] == [None, 0.125] and rows["Epoch (0-based)"] == [None, 2]
    overview = {r["key"]: r["values"] for t in data["tables"] if t["id"] == "overview" for r in t["rows"]}
    assert overview["Total parameters"] == [98_648, 98_648]


@pytest.mark.parametrize("make_args, fragment", [
    (lambda tmp: ["configs/default.yaml"], "at least two inputs"),
    (lambda tmp: ["configs/default.yaml", str(tmp / "missing.yaml")], "no such file"),
    (lambda tmp: ["configs/default.yaml", str(write_yaml(tmp / "x.txt", {}))], "cannot tell what"),
    (lambda tmp: ["configs/default.yaml", str(tmp / "bad.json")], "not a genesis-report JSON report"),
])
def test_compare_bad_input_exits_2_with_one_line(tmp_path, make_args, fragment):
    (tmp_path / "bad.json").write_text('{"title": "x"}')
    out = tmp_path / "c.html"
    result = run_cli("compare", *make_args(tmp_path), "-o", str(out), "--no-memory")
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("bad", ["missing.yaml", "notes.txt"])
def test_compare_refuses_a_bad_input_before_analysing_any(tmp_path, monkeypatch, bad):
    """A missing or unknown last input is said at once, not after minutes of analysing the others."""
    def analysed(*args, **kwargs):
        raise AssertionError("an input was analysed before every input was checked")

    monkeypatch.setattr(pipeline, "config_report", analysed)
    (tmp_path / "notes.txt").write_text("x")
    result = run_cli("compare", "configs/default.yaml", "configs/mlp.yaml", str(tmp_path / bad))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and str(tmp_path / bad) in result.stderr


def test_compare_target_flag_follows_build_support():
    from reporter.pipeline import ReportOptions

    result = run_cli("compare", "configs/default.yaml", "configs/mlp.yaml", "--target", "cpu", "--format", "json",
                     "--no-memory")
    if "target" in ReportOptions.__dataclass_fields__:
        assert result.returncode == 0, result.stderr
        assert [c["target"] for c in json.loads(result.stdout)["columns"]] == ["cpu", "cpu"]
    else:
        assert result.returncode == 2 and "--target is not available in this build" in result.stderr
