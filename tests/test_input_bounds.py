"""Readers with hard bounds: configs, training logs, the index's progress line; a seeded config fuzz."""

from __future__ import annotations

import io
import os
import random

import pytest
from helpers import CONFIGS

from reporter.config.loader import load_config
from reporter.errors import InputError
from reporter.safe_repr import short_repr
from reporter.tasks import index as index_module
from reporter.tasks.log import read_log_text
from reporter.tasks.model import IndexRow


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_survives_a_row_without_parameters(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(index_module.sys, "stderr", terminal)
    index_module.print_progress(1, 3, IndexRow(name="a", path="a", report_link=None, parameters=None))
    index_module.print_progress(2, 3, IndexRow(name="b", path="b", report_link=None, parameters=12345))
    index_module.print_progress(3, 3, IndexRow(name="c", path="c", report_link=None, error="broken"))
    text = terminal.getvalue()
    assert "[1/3] a: reported (no model built)" in text and "12,345 parameters" in text and "error: broken" in text


def test_training_logs_are_read_only_from_regular_files_and_only_up_to_the_bound(tmp_path):
    log = tmp_path / "x_training.txt"
    log.write_text("Epoch 1/2 Summary\n" * 10)
    text, cut = read_log_text(log, limit=40)
    assert len(text) == 40 and cut
    assert read_log_text(log) == (log.read_text(), False)
    fifo = tmp_path / "fifo_training.txt"
    os.mkfifo(fifo)  # opening a FIFO for reading would wait for a writer forever
    with pytest.raises(InputError, match="not a regular file"):
        read_log_text(fifo)
    zero = tmp_path / "zero_training.txt"
    zero.symlink_to("/dev/zero")
    with pytest.raises(InputError, match="not a regular file"):
        read_log_text(zero)


def test_a_task_with_a_fifo_or_dev_zero_log_still_gets_its_loss_history(tmp_path):
    from task_fixtures import make_task

    from reporter.tasks.folder import scan_task
    from reporter.tasks.report import _history

    task = make_task(tmp_path, "t", checkpoints=False)
    os.mkfifo(task / "logs" / "a_training.txt")
    (task / "logs" / "b_training.txt").symlink_to("/dev/zero")
    notes: list[str] = []
    history, log = _history(scan_task(task), notes)  # the task's loss history, as its report reads it
    assert sum("not a regular file" in note for note in notes) == 2
    assert log.name == "exp_training.txt" and history.epochs == [1, 2, 3]


@pytest.mark.parametrize(("content", "problem"), [
    ("a: " + "[" * 5_000 + "]" * 5_000, "nested too deeply"),
    ("a0: &a0 [1, 1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 40)),
     "expands to more than"),
    ("model:\n" + "".join(f"  k{i}: 1\n" for i in range(2000)), "mapping of 2,000 keys"),
])
def test_configs_beyond_the_bounds_are_one_line_errors(tmp_path, content, problem):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert problem in str(info.value) and "\n" not in str(info.value)


def test_config_files_that_are_not_regular_or_too_large(tmp_path):
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        load_config(fifo)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(InputError, match="larger than 1,048,576 bytes"):
        load_config(big)


def test_short_repr_is_bounded_for_shared_and_deep_values():
    laughs: list = ["lol"]
    for _ in range(60):
        laughs = [laughs, laughs]
    text = short_repr(laughs, 50)
    assert len(text) <= 50 and text.startswith("[[[") and text.endswith("...")
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert len(short_repr(deep)) <= 200
    assert short_repr({"a": (1,), "b": "x" * 10}) == repr({"a": (1,), "b": "x" * 10})
    assert short_repr(10**5000).startswith("<int of")


def test_fuzzed_configs_load_or_fail_with_one_line(tmp_path):
    """Seeded mutations of the shipped config (huge numbers, wrong types, deleted lines): a config or
    one InputError, never anything else."""
    rng = random.Random(17)
    lines = (CONFIGS / "default.yaml").read_text().splitlines()
    values = ["10**9", "1000000000000", "-1", "0", "1e400", "nan", "[1, 2]", "{a: 1}", "'x'", "~", "true",
              "&a [*a]", "!!python/object:os.system", "[" * 50, "9" * 5000]
    outcomes = {"config": 0, "error": 0}
    for _ in range(100):
        mutated = list(lines)
        for _ in range(rng.randint(1, 4)):
            index = rng.randrange(len(mutated))
            line = mutated[index]
            if ":" in line and rng.random() < 0.7:
                mutated[index] = line.split(":", 1)[0] + ": " + rng.choice(values)
            else:
                del mutated[index]
        path = tmp_path / "fuzz.yaml"
        path.write_text("\n".join(mutated) + "\n")
        try:
            config = load_config(path)
        except InputError as exc:
            assert "\n" not in str(exc)
            outcomes["error"] += 1
        else:
            assert config.model["hidden"] is not None
            outcomes["config"] += 1
    assert outcomes["config"] > 0 and outcomes["error"] > 0
