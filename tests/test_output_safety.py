"""No input is ever written, output folders are checked before any work, several -o are all or nothing."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from helpers import CONFIGS
from inprocess import run_main
from task_fixtures import make_task

from reporter import pipeline
from reporter.errors import InputError
from reporter.output import check_outputs, write_all
from reporter.render import Rendered


@pytest.fixture
def no_analysis(monkeypatch):
    """Fail the test if any analysis starts: the refusals below must come before any work."""
    def refuse(*args, **kwargs):
        raise AssertionError("the analysis ran before the outputs were checked")

    for name in ("checkpoint_report", "config_report", "model_class_report"):
        monkeypatch.setattr(pipeline, name, refuse)


def _one_line_refusal(result, fragment):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def _checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"w": torch.ones(3)}, path)
    return path


@pytest.mark.parametrize("how", ["same path", "hard link", "symbolic link"])
def test_output_onto_a_checkpoint_is_refused_before_any_work(tmp_path, no_analysis, how):
    ckpt = _checkpoint(tmp_path)
    before = ckpt.read_bytes()
    out = ckpt
    if how == "hard link":
        out = tmp_path / "link.md"
        os.link(ckpt, out)
    elif how == "symbolic link":
        out = tmp_path / "sym.md"
        out.symlink_to(ckpt)
    result = run_main("--checkpoint", ckpt, "-o", out, "--format", "md", "-q")
    _one_line_refusal(result, "would overwrite the input")
    assert ckpt.read_bytes() == before


def test_output_onto_the_config_or_a_task_file_is_refused(tmp_path, no_analysis):
    config = tmp_path / "c.yaml"
    shutil.copy(CONFIGS / "default.yaml", config)
    _one_line_refusal(run_main("--config", config, "-o", config, "--format", "md"), "would overwrite the input")
    task = make_task(tmp_path / "tasks", "t1", checkpoints=False)
    for victim in (task / "config.yaml", task / "logs" / "exp_training.txt"):
        before = victim.read_bytes()
        _one_line_refusal(run_main(task, "-o", victim, "--format", "json"), "would overwrite the input")
        assert victim.read_bytes() == before


def test_compare_and_index_refuse_outputs_onto_their_inputs(tmp_path):
    config = tmp_path / "c.yaml"
    shutil.copy(CONFIGS / "default.yaml", config)
    _one_line_refusal(run_main("compare", config, CONFIGS / "small_model.yaml", "-o", config, "--format", "md"),
                      "would overwrite the input")
    task = make_task(tmp_path / "tasks", "t1", checkpoints=False)
    link = tmp_path / "index.html"  # a name whose suffix says HTML, linked to a task's config
    link.symlink_to(task / "config.yaml")
    _one_line_refusal(run_main("index", tmp_path / "tasks", "-o", link), "would overwrite the input")
    assert (task / "config.yaml").read_text() == (CONFIGS / "default.yaml").read_text()


def test_markdown_side_folder_holding_an_input_is_refused(tmp_path, no_analysis):
    folder = tmp_path / "report_files"
    folder.mkdir()
    ckpt = _checkpoint(folder)
    _one_line_refusal(run_main("--checkpoint", ckpt, "-o", tmp_path / "report.md"), "report_files")
    assert ckpt.exists()


def test_missing_output_folder_is_refused_before_any_work(tmp_path, no_analysis):
    config = CONFIGS / "default.yaml"
    good = tmp_path / "r.json"
    result = run_main("--config", config, "-o", good, "-o", tmp_path / "missing" / "r.html")
    _one_line_refusal(result, "missing: no such folder")
    assert not good.exists()


def _doc(text):
    return Rendered(text=text, files={})


def test_several_outputs_are_all_or_nothing(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "gone" / "b.html"
    (tmp_path / "gone").mkdir()
    check_outputs([first, second], [])
    (tmp_path / "gone").rmdir()  # the second target disappears after the check: nothing may be left
    with pytest.raises(InputError):
        write_all([(first, _doc("{}")), (second, _doc("<html>"))])
    assert not first.exists() and list(tmp_path.iterdir()) == []
    first.write_text("old")
    with pytest.raises(InputError):
        write_all([(first, _doc("new")), (second, _doc("<html>"))])
    assert first.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_markdown_side_files_are_replaced_only_on_success(tmp_path):
    report = tmp_path / "r.md"
    write_all([(report, Rendered(text="v1", files={"r_files/a.svg": "<svg/>"}))])
    assert (tmp_path / "r_files" / "a.svg").read_text() == "<svg/>"
    write_all([(report, Rendered(text="v2", files={"r_files/b.svg": "<svg>2</svg>"}))])
    assert sorted(p.name for p in (tmp_path / "r_files").iterdir()) == ["b.svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md", "r_files"]


def test_the_same_output_twice_is_refused(tmp_path):
    with pytest.raises(InputError, match="given twice"):
        check_outputs([tmp_path / "r.json", tmp_path / "." / "r.json"], [])
