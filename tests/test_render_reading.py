"""Reports read as intended (issue 12 §7–9): Markdown as GitHub renders it (identifiers stay verbatim,
no stray emphasis, no empty table, no visible escaping), terminal text within 100 columns with columns
that never run together, and numbers in units a person reads."""

from __future__ import annotations

import re

from gfm import Elements, gfm
from helpers import CONFIGS
from inprocess import run_main
from reading_checks import check_markdown, check_terminal, report_in_three_formats
from task_fixtures import make_task

from reporter.render.environment import fmt_flops, plural
from reporter.render.escape import display_width, fit, md_code, md_text

# Every shipped config is read this way in tests/test_all_configs.py, on its full report (memory included).


def test_memory_and_flops_sections_read_as_written(tmp_path):
    report, markdown, terminal = report_in_three_formats(  # CUDA steps use the _foreach_ optimizer ops
        tmp_path, "--config", str(CONFIGS / "debug.yaml"), "--batch-size", "2", "--target", "H100-80GB")
    ops = report["memory"]["flops"]["not_counted_ops"]
    assert any(op.startswith("aten._foreach_") and op.endswith("_") for op in ops)  # the identifiers at stake
    check_markdown(report, markdown)
    check_terminal(terminal)
    flops = report["memory"]["flops"]
    assert f"training step (forward + backward) **{fmt_flops(flops['training_flops'])}**" in markdown
    assert f"{flops['training_flops']:,}" not in terminal  # a person reads 2.67 TFLOP, JSON keeps the count


def test_mlp_notes_keep_their_asterisks(tmp_path):
    report, markdown, _ = report_in_three_formats(tmp_path, "--config", str(CONFIGS / "mlp.yaml"),
                                                  "--no-memory")
    assert any("(B*L, H)" in n for n in report["summary"]["notes"])
    assert "(B*L, H)" in Elements(gfm(markdown)).plain()


def test_task_report_fits_and_its_checkpoint_columns_stay_apart(tmp_path):
    task = make_task(tmp_path, "t1")
    long_name = "icecube_diffusion_default_run_with_a_long_name_epoch_0004.pt"
    (task / "checkpoints" / long_name).write_bytes((task / "checkpoints" / "exp_best.pt").read_bytes())
    result = run_main(str(task), "--no-memory")
    assert result.returncode == 0, result.stderr
    check_terminal(result.stdout)
    rows = [line for line in result.stdout.splitlines() if "checkpoints/" in line and "KiB" in line]
    assert len(rows) == 4
    for row in rows:
        assert re.search(r"\.pt +epoch|\.pt +best|… +epoch", row), row  # a space before the Kind column
    assert any("…" in row for row in rows)  # the long name is cut visibly, not silently


def test_compare_cuts_values_with_an_ellipsis_and_separates_thousands(tmp_path):
    for name in ("default", "small_model"):
        assert run_main("--config", CONFIGS / f"{name}.yaml", "--no-memory", "-q", "-o",
                        tmp_path / f"{name}.json").returncode == 0
    result = run_main("compare", tmp_path / "default.json", tmp_path / "small_model.json")
    assert result.returncode == 0, result.stderr
    check_terminal(result.stdout)
    description = next(line for line in result.stdout.splitlines() if "description" in line)
    assert description.count("…") == 2
    assert "512" in next(line for line in result.stdout.splitlines() if "Batch size" in line)


def test_a_live_module_report_has_no_empty_table():
    import torch

    from reporter import api

    report = api.report_from_module(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU()))
    html = gfm(api.render_report(report, "md"))
    assert html.count("<table>") == html.count("<tbody>") > 0
    assert "Setting" not in html
    assert "Configuration:" not in api.render_report(report, "terminal")


def test_display_width_counts_wide_characters_and_emoji():
    assert display_width("abc") == 3
    assert display_width("日本") == 4  # East Asian wide
    assert display_width("📊 x") == 4  # emoji are two columns
    assert display_width("⚙️ x") == 4  # a narrow symbol made emoji by U+FE0F
    assert display_width("e\u0301") == 1  # a combining accent takes no column
    assert fit("日本語テキスト", 6) == "日本…" and display_width(fit("日本語テキスト", 6)) == 5
    assert fit("short", 6) == "short"


def test_units_and_plurals_read_naturally():
    assert fmt_flops(2_669_401_571_328) == "2.67 TFLOP"
    assert fmt_flops(18_200_000_000) == "18.2 GFLOP"
    assert fmt_flops(999_600_000_000) == "1.00 TFLOP"  # rounding never shows 1000 GFLOP
    assert fmt_flops(512) == "512 FLOP"
    assert plural(1, "warning") == "1 warning" and plural(19, "warning") == "19 warnings"
    assert plural(1200, "finding") == "1,200 findings"


def test_markdown_code_spans_and_text_round_trip_through_github():
    for value in ("a`b", "``x``", "`edge", "pipe | in cell", " spaced ", "aten._foreach_add_"):
        html = gfm(f"| h |\n|---|\n| {md_code(value, cell=True)} |\n")
        cell = re.search(r"<td><code>(.*?)</code></td>", html)
        assert cell and Elements(cell.group(1)).plain() == value, (value, html)
    for value in ("*em* _x_ <b>", "1. not a list", "- not a bullet", "# not a heading", "a\\b", "x | y"):
        html = gfm(md_text(value))
        assert Elements(html).plain().strip() == value and "<li>" not in html and "<h1>" not in html, html
