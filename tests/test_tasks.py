"""Task folders (reference §3.3): recognition, loss history, reports written in place, and the index."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
from inprocess import run_main
from task_fixtures import TRAIN_LOSSES, VAL_LOSSES, make_task, training_log_text

from reporter.report.schema import report_json_schema
from reporter.tasks.folder import classify_checkpoint, find_tasks, scan_task
from reporter.tasks.log import parse_training_log


def test_checkpoint_names_follow_genesis_conventions(tmp_path):
    names = {"exp_best.pt": ("best", None), "exp_epoch_0003.pt": ("epoch", 3), "exp_epoch_12.pt": ("epoch", 12),
             "exp_epoch_0005_early_stop.pt": ("early_stop", 5), "exp_epoch_0099_final.pt": ("final", 99),
             "model_state_dict.pth": ("other", None), "icecube_diffusion_default_best.pt": ("best", None)}
    for name, (kind, epoch) in names.items():
        (tmp_path / name).write_bytes(b"x" * 7)
        ckpt = classify_checkpoint(tmp_path / name)
        assert (ckpt.kind, ckpt.epoch, ckpt.size_bytes) == (kind, epoch, 7), name
    assert classify_checkpoint(tmp_path / "icecube_diffusion_default_best.pt").experiment == "icecube_diffusion_default"


def test_training_log_epochs_losses_and_resume():
    history = parse_training_log(training_log_text(TRAIN_LOSSES, VAL_LOSSES))
    assert history.epochs == [1, 2, 3] and history.total_epochs == 3
    assert history.train_loss == TRAIN_LOSSES and history.val_loss == VAL_LOSSES
    assert history.learning_rate == [1e-4] * 3
    # A resumed run prints epoch 3 again: the later values win, order follows the log.
    resumed = training_log_text(TRAIN_LOSSES, VAL_LOSSES) + "📊 Epoch 3/3 Summary\n  Train Loss: 0.100000\n"
    again = parse_training_log(resumed)
    assert again.epochs == [1, 2, 3] and again.train_loss == [0.5, 0.25, 0.1]
    assert not parse_training_log("no summaries here\nTrain Loss: 1.0\n")


def test_training_log_takes_only_epoch_summary_lines_with_best_and_early_stop_prints():
    """The trainer's exact prints (reference §6): improvements and the early stop mention a val loss too."""
    vals = [1.405999, 1.518782, 1.171270, 1.372559]
    lines = []
    best = float("inf")
    for epoch, val in enumerate(vals, 1):
        lines += ["=" * 70, f"📊 Epoch {epoch}/10 Summary", "=" * 70, f"  Time:       {epoch}.00s",
                  "  LR:         1.00e-04", f"  Train Loss: {val + 0.1:.6f}", f"  Val Loss:   {val:.6f}",
                  "  Early Stop: patience=0/2", "=" * 70]
        if val < best:
            best = val
            lines.append(f"💾 New best model! Val loss: {val:.6f}")
    lines += ["🛑 Early stopping triggered", f"Best val loss: {best:.6f} at epoch 3"]
    history = parse_training_log("\n".join(lines) + "\n")
    assert history.epochs == [1, 2, 3, 4] and history.total_epochs == 10
    assert history.val_loss == vals
    assert history.train_loss == [round(v + 0.1, 6) for v in vals]
    # without the separator lines (a different tee), the best/early-stop prints still do not count
    bare = parse_training_log("\n".join(line for line in lines if not line.startswith("=")))
    assert bare.val_loss == vals


def test_scan_finds_config_checkpoints_and_log(tmp_path):
    task = make_task(tmp_path, "251012-1", checkpoints=False)
    for name in ("exp_epoch_0000.pt", "exp_epoch_0001.pt", "exp_best.pt"):
        (task / "checkpoints" / name).write_bytes(b"0")
    folder = scan_task(task)
    assert folder.config == task / "config.yaml"
    assert [c.path.name for c in folder.checkpoints] == ["exp_epoch_0000.pt", "exp_epoch_0001.pt", "exp_best.pt"]
    assert folder.best_checkpoint().path.name == "exp_best.pt"
    assert folder.training_logs == [task / "logs" / "exp_training.txt"]
    (tmp_path / "not-a-task").mkdir()
    assert find_tasks(tmp_path) == [task]


def test_task_folder_writes_reports_in_place(tmp_path):
    task = make_task(tmp_path, "251012-1")
    result = run_main(str(task), "-q", "--no-memory")
    assert result.returncode == 0, result.stderr
    reports = task / "reports"
    assert sorted(p.name for p in reports.iterdir()) == ["report.html", "report.json", "report.md", "report_files"]
    data = json.loads((reports / "report.json").read_text())
    jsonschema.validate(data, report_json_schema())  # a task's report.json is a Report with a task section
    assert data["summary"]["total_parameters"] == 98_648
    entries = data["task"]["checkpoints"]
    assert [e["file"] for e in entries] == ["checkpoints/exp_epoch_0000.pt", "checkpoints/exp_epoch_0001.pt",
                                            "checkpoints/exp_best.pt"]
    assert [e["size_bytes"] for e in entries] == [os.path.getsize(task / e["file"]) for e in entries]
    assert [e["epoch"] for e in entries][:2] == [0, 1]
    assert data["task"]["loss_epochs"] == [1, 2, 3]
    assert data["task"]["train_loss"] == TRAIN_LOSSES and data["task"]["val_loss"] == VAL_LOSSES
    chart = data["task"]["charts"][0]
    assert chart["x"] == [1.0, 2.0, 3.0] and [s["name"] for s in chart["series"]] == ["train loss", "val loss"]
    html = (reports / "report.html").read_text()
    assert 'id="task"' in html and 'href="#task"' in html and "Loss by epoch" in html
    md = (reports / "report.md").read_text()
    assert "## Task `251012-1`" in md and "](report_files/task-loss-history.svg)" in md
    assert (reports / "report_files" / "task-loss-history.svg").read_text().startswith("<svg")
    assert data["task"]["reported_from"] == "checkpoints/exp_best.pt"
    assert [e["best_loss"] for e in entries] == [0.5, 0.25, 0.125]
    assert [e["reported"] for e in entries] == [False, False, True]


def test_task_folder_explicit_output_and_terminal(tmp_path):
    task = make_task(tmp_path, "t", checkpoints=False)
    out = tmp_path / "elsewhere.md"
    result = run_main(str(task), "-o", str(out), "--no-memory")
    assert result.returncode == 0, result.stderr
    assert "🗂️  Task t" in result.stdout and "3 epochs, last train loss 0.125" in result.stdout
    assert out.exists() and not (task / "reports").exists()


def test_not_a_task_folder_is_bad_input(tmp_path):
    result = run_main(str(tmp_path))
    assert result.returncode == 2
    assert "not a GENESIS task folder" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_index_over_three_tasks_with_one_broken(tmp_path):
    tasks = tmp_path / "tasks"
    make_task(tasks, "a-default", checkpoints=False)
    make_task(tasks, "b-film", config="dit_film.yaml", checkpoints=False, log=False)
    broken = make_task(tasks, "c-broken", checkpoints=False)
    (broken / "config.yaml").write_text("model:\n  hidden: 20\n  heads: 8\n")  # 20 not divisible by 8
    index_html, index_json = tasks / "index.html", tmp_path / "index.json"
    # -j 2: the tasks are reported on in two worker processes (spawned by the index command itself)
    result = run_main("index", str(tasks), "-o", str(index_html), "-o", str(index_json), "-j", "2", "-q",
                      "--no-memory")
    assert result.returncode == 0, result.stderr
    assert re.findall(r"\[\d/3\] (\S+):", result.stderr) and "[3/3]" in result.stderr
    rows = {r["name"]: r for r in json.loads(index_json.read_text())["rows"]}
    assert list(rows) == ["a-default", "b-film", "c-broken"]
    assert rows["a-default"]["parameters"] == 98_648 and rows["a-default"]["epochs"] == 3
    film = json.loads((tasks / "b-film" / "reports" / "report.json").read_text())
    assert rows["b-film"]["parameters"] == film["summary"]["total_parameters"]
    assert rows["b-film"]["epochs"] is None
    assert rows["c-broken"]["error"] and "heads" in rows["c-broken"]["error"]
    assert rows["c-broken"]["report_link"] is None and not (broken / "reports").exists()
    html = index_html.read_text()
    assert html.count("<tr class=\"ok\">") == 2 and html.count("<tr class=\"failed\">") == 1
    for link in re.findall(r'<a href="([^"]+)">', html):
        assert (index_html.parent / link).is_file(), link
    # The sort script runs under a strict CSP that allows exactly this script by its hash.
    script = re.search(r"<script>(.*?)</script>", html, re.S)[1]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html
    assert html.count("<button type=\"button\">") == 9


def test_index_of_folder_without_tasks_is_bad_input(tmp_path):
    result = run_main("index", str(tmp_path))
    assert result.returncode == 2 and "no GENESIS task folders" in result.stderr


def test_index_reports_best_loss_from_checkpoints(tmp_path):
    tasks = tmp_path / "tasks"
    make_task(tasks, "a")
    out = tmp_path / "index.json"
    result = run_main("index", str(tasks), "-o", str(out), "-q", "--no-memory")
    assert result.returncode == 0, result.stderr
    row = json.loads(out.read_text())["rows"][0]
    assert row["best_loss"] == 0.125


def test_task_paths_are_relative_to_the_task(tmp_path):
    task = make_task(tmp_path, "rel", checkpoints=False)
    from reporter.pipeline import ReportOptions
    from reporter.tasks.report import task_report

    section = task_report(task, ReportOptions(memory=False)).task
    assert section.config == "config.yaml" and section.training_log == str(Path("logs") / "exp_training.txt")


def test_index_reuses_unchanged_task_reports_and_redoes_changed_ones(tmp_path, monkeypatch):
    """Re-indexing reads each unchanged task's report.json back (no model is built); any change to a task's
    config bytes, a checkpoint, a training log, the options or genesis-report's code makes it again."""
    from reporter import analysis_cache

    root = tmp_path / "tasks"
    first, second = make_task(root, "a"), make_task(root, "b")
    out = tmp_path / "index.json"

    def index(*extra: str) -> dict[str, dict]:
        result = run_main("index", str(root), "-o", str(out), "-q", "--no-progress", "--no-memory", *extra)
        assert result.returncode == 0, result.stderr
        data = json.loads(out.read_text())
        return {row["name"]: row for row in data["rows"]}

    assert not any(row["reused"] for row in index().values())
    written = (first / "reports" / "report.json").stat().st_mtime_ns
    rows = index()
    assert all(row["reused"] for row in rows.values()) and rows["a"]["parameters"] == 98_648
    assert (first / "reports" / "report.json").stat().st_mtime_ns == written  # not rewritten
    ckpt = first / "checkpoints" / "exp_epoch_0000.pt"
    stat = ckpt.stat()
    ckpt.write_bytes(ckpt.read_bytes())  # same bytes, but the file was written: its ctime changed
    os.utime(ckpt, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the mtime put back
    rows = index()
    assert not rows["a"]["reused"] and rows["b"]["reused"]
    log = second / "logs" / "exp_training.txt"
    log.write_text(log.read_text() + "\n")
    assert not index()["b"]["reused"]
    assert not any(row["reused"] for row in index("--batch-size", "64").values())  # other options
    monkeypatch.setattr(analysis_cache, "code_fingerprint", lambda: "another genesis-report")
    analysis_cache.environment_fingerprint.cache_clear()
    try:
        assert not any(row["reused"] for row in index("--batch-size", "64").values())
    finally:
        analysis_cache.environment_fingerprint.cache_clear()
    assert not any(row["reused"] for row in index("--rebuild").values())
    (second / "reports" / "report.md").unlink()  # a report file is missing: made again
    rows = index()
    assert rows["a"]["reused"] and not rows["b"]["reused"]
