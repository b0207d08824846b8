"""Reports as a GENESIS researcher reads them: the target the model trains on, findings ranked by consequence,
a task that survives a broken best checkpoint, an index that never calls a NaN task ok."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from helpers import CONFIGS, write_yaml
from inprocess import run_main
from task_fixtures import make_task


def _json(tmp_path, *args: str) -> dict:
    out = tmp_path / "r.json"
    result = run_main(*args, "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("command", [["--config", str(CONFIGS / "default.yaml")],
                                     ["compare", str(CONFIGS / "default.yaml"), str(CONFIGS / "cnn.yaml")],
                                     ["index", str(CONFIGS)]])
def test_bad_target_is_one_line_and_exit_2_in_every_command(command, tmp_path):
    result = run_main(*command, "--target", "A100", "-q", "-o", str(tmp_path / "x.json"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "unknown target 'A100'" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_bad_default_target_in_the_environment_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("GENESIS_REPORT_TARGET", "H1000")
    result = run_main("--config", str(CONFIGS / "default.yaml"), "-q", "-o", str(tmp_path / "x.json"))
    assert result.returncode == 2 and "GENESIS_REPORT_TARGET" in result.stderr


def test_compare_accepts_the_help_example_target_cuda(tmp_path):
    result = run_main("compare", str(CONFIGS / "small_model.yaml"), str(CONFIGS / "debug.yaml"), "--target", "cuda",
                      "--batch-size", "2", "-q", "-o", str(tmp_path / "c.json"))
    assert result.returncode == 0, result.stderr


def test_config_trains_on_cuda_without_a_gpu_named(monkeypatch, tmp_path):
    monkeypatch.delenv("GENESIS_REPORT_TARGET", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    data = _json(tmp_path, "--config", str(CONFIGS / "debug.yaml"), "--batch-size", "2")
    memory = data["memory"]
    assert memory["target_kind"] == "cuda" and memory["capacity_bytes"] is None
    assert "device: auto" in memory["target_basis"]
    assert not any(f["code"] in ("memory.does-not-fit", "memory.batch-too-large") for f in data["findings"])


def test_a_typo_in_the_model_section_is_an_error_that_names_the_model_used(tmp_path):
    cfg = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    cfg["model"]["hiden"] = cfg["model"].pop("hidden")
    data = _json(tmp_path, "--config", str(write_yaml(tmp_path / "typo.yaml", cfg)), "--no-memory")
    (typo,) = [f for f in data["findings"] if f["code"] == "config.unknown-key"]
    assert typo["severity"] == "error"
    assert "GENESIS's default `model.hidden` = 512" in typo["message"]
    assert data["findings"][0]["severity"] in ("security", "error")  # ranked: errors come first


def test_task_survives_a_broken_best_checkpoint_and_the_index_names_it(tmp_path):
    task = make_task(tmp_path / "tasks", "251012-1")
    best = task / "checkpoints" / "exp_best.pt"
    best.write_bytes(best.read_bytes()[:4000])  # the trainer was rewriting it
    result = run_main(str(task), "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads((task / "reports" / "report.json").read_text())
    assert data["task"]["reported_from"] == "checkpoints/exp_epoch_0001.pt"
    assert data["task"]["unreadable"] == ["checkpoints/exp_best.pt"]
    assert data["task"]["loss_epochs"] == [1, 2, 3]  # config, log history and list are still reported
    (broken,) = [f for f in data["findings"] if f["code"] == "task.checkpoint-unreadable"]
    assert broken["severity"] == "error" and "exp_best.pt" in broken["message"]
    entry = {e["file"]: e for e in data["task"]["checkpoints"]}["checkpoints/exp_best.pt"]
    assert entry["problem"] and not entry["reported"]
    out = tmp_path / "index.json"
    result = run_main("index", str(tmp_path / "tasks"), "-o", str(out), "-q", "--no-progress", "--no-memory")
    (row,) = json.loads(out.read_text())["rows"]
    assert row["unreadable"] == ["checkpoints/exp_best.pt"] and row["status"] == "errors"
    assert "exp_best.pt" in row["status_detail"]


def test_index_never_calls_a_nan_task_ok_and_exits_2_when_every_task_failed(tmp_path):
    healthy = make_task(tmp_path / "tasks", "a-healthy")
    sick = make_task(tmp_path / "tasks", "b-nan")
    best = sick / "checkpoints" / "exp_best.pt"
    ckpt = torch.load(best, weights_only=True)
    ckpt["model_state_dict"]["out_proj.weight"][0, 0] = float("nan")
    torch.save(ckpt, best)
    out = tmp_path / "index.json"
    result = run_main("index", str(tmp_path / "tasks"), "-o", str(out), "--no-progress", "--no-memory")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["b-nan"]["status"] == "non-finite" and "out_proj.weight" in rows["b-nan"]["status_detail"]
    assert rows["a-healthy"]["status"] != "non-finite"
    assert "non-finite" in result.stdout  # the terminal index shows the status column
    for task in (healthy, sick):
        (task / "config.yaml").write_text("model: [")
        for ckpt_file in (task / "checkpoints").iterdir():
            ckpt_file.write_bytes(b"")
    failed = run_main("index", str(tmp_path / "tasks"), "-o", str(out), "-q", "--no-progress")
    assert failed.returncode == 2 and "every task failed" in failed.stderr


def test_compare_has_findings_and_weight_health_rows(tmp_path):
    task = make_task(tmp_path / "tasks", "t")
    out = tmp_path / "c.json"
    result = run_main("compare", str(CONFIGS / "default.yaml"), str(task / "checkpoints" / "exp_best.pt"),
                      "-o", str(out), "-q", "--no-memory")
    assert result.returncode == 0, result.stderr
    tables = {t["id"]: t for t in json.loads(out.read_text())["tables"]}
    rows = {r["key"]: r["values"] for r in tables["findings"]["rows"]}
    assert "Status" in rows and "Error findings" in rows
    assert rows["All-zero tensors"][1] > 0  # the test checkpoint's weights are all zeros
