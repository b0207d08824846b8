"""What "reads as written" means for a report (issue 12 §7–9), shared by the tests that render one:
Markdown as GitHub renders it (identifiers stay verbatim, no stray emphasis, no empty table, no visible
escaping) and terminal text within 100 columns."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gfm import Elements, gfm
from inprocess import run_main

from reporter.render.escape import TERMINAL_WIDTH, display_width

OWN_EMPHASIS = {"file", "default", "extension"}  # the config section's legend is the only italic text
ESCAPE_ARTIFACT = re.compile(r"\\[!-/:-@\[-`{-~]|&(amp|lt|gt|#\d+);")


def report_in_three_formats(tmp_path: Path, *args: str) -> tuple[dict, str, str]:
    out = tmp_path / "r"
    result = run_main(*args, "-o", f"{out}.json", "-o", f"{out}.md", "-o", f"{out}.txt", "-q")
    assert result.returncode == 0, result.stderr
    return (json.loads(Path(f"{out}.json").read_text()), Path(f"{out}.md").read_text(encoding="utf-8"),
            Path(f"{out}.txt").read_text(encoding="utf-8"))


def identifiers(report: dict) -> list[str]:
    """Names a reader copies from a report: config keys, module and op names, formulas, notes."""
    names = [f"{section}.{f['key']}" for section, fields in report["config"]["sections"].items() for f in fields]
    names += [g["name"] for g in report["parameters"]["by_top_level"]]
    names += report["summary"]["notes"]
    if report["normalization"]:
        names.append(report["normalization"]["formula"])
    if report["memory"]:
        names += report["memory"]["flops"]["not_counted_ops"]
        names += [m["module"] for m in report["memory"]["flops"]["by_module"]]
    return [n for n in names if n]


def check_markdown(report: dict, markdown: str) -> None:
    html = gfm(markdown)
    parsed = Elements(html)
    text = re.sub(r"\s+", " ", parsed.plain())
    for name in identifiers(report):
        assert re.sub(r"\s+", " ", name) in text, name
    emphasised = re.findall(r"<em>(.*?)</em>", html)
    assert set(emphasised) <= OWN_EMPHASIS, emphasised
    assert "<del>" not in html
    assert html.count("<table>") == html.count("<tbody>"), "a table without rows"
    assert not ESCAPE_ARTIFACT.search(text), ESCAPE_ARTIFACT.search(text)


def check_terminal(text: str) -> None:
    wide = [line for line in text.splitlines() if display_width(line) > TERMINAL_WIDTH]
    assert not wide, wide[:3]
