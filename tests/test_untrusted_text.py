"""One hostile payload through every user-controlled field of every report kind (issue 17 §1–3).

The same inputs are built twice, once with the payload and once with a plain word in its place; the
rendered documents must keep the structure of the plain ones (every table, every heading), and nothing
from the payload may become markup: no HTML element, comment, link, image, emphasis, heading or quote in
Markdown (rendered by GitHub's cmark-gfm) or HTML, no control character on the terminal.
"""

from __future__ import annotations

import json
import os
import re
import sys
import types
from pathlib import Path

import pytest
import torch
import yaml
from gfm import CONTROL, Elements, gfm, headings, is_own_link
from helpers import CONFIGS, default_config, write_yaml
from inprocess import run_main
from task_fixtures import make_task

PAYLOAD = ('<u class="pwn">U</u> <!-- *em* _x_ __b__ ~~s~~ [x](javascript:alert(1)) '
           "![b](http://evil.example/x.png) <http://evil.example/a>\n# PWNHEAD\n> [!NOTE] all clean\n"
           "|pipe|pipe|\n|---|---|\n`tick` ``two`` \x1b[8mHIDDEN\x1b[0m\r\u202eRTL\u2066 %% \"dq\" 'sq' "
           "www.evil.example http://evil.example/y $x^2$ &amp; &#60;b&#62;")
# A file or folder name: no '/', under 255 bytes with a suffix, 'javascript:alert(6)' first so that an
# index link would start with it.
NAME_PAYLOAD = ('javascript:alert(6) <u class="pwn">U<!-- *em* _x_ [x](javascript:alert(1))\n# PWNHEAD\n'
                '> [!NOTE] all clean\n|pipe| `tick` \x1b[8mHIDDEN\r\u202eRTL %% "dq" $x^2$')
# A Python module name (for pickled globals): no '.', which the pickler would read as a package path.
MODULE_PAYLOAD = PAYLOAD.replace(".", "·")
KINDS = ("config", "checkpoint", "module", "task", "index", "compare")


def _register(module_name: str) -> types.ModuleType:
    """A throwaway module under a hostile name, holding a callable and an nn.Module class for pickling."""
    module = types.ModuleType(module_name)

    def launch() -> None:  # what the checkpoint asks to call when loaded (it is never called)
        raise AssertionError("a checkpoint callable was run")

    launch.__module__, launch.__qualname__ = module_name, "launch"
    module.launch = launch
    module.Net = type("Net", (torch.nn.Module,), {"__module__": module_name, "__qualname__": "Net"})
    sys.modules[module_name] = module
    return module


class _Call:
    """Pickles as a call of ``func(*args)``; the reader refuses it (nothing is run)."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _inputs(root: Path, text: str, name: str, module_name: str) -> dict[str, Path]:
    """A config, a trainer checkpoint, a pickled module and a task folder, every string field set to text."""
    from reporter.config.loader import load_config
    from reporter.pipeline import build_from_config

    root.mkdir()
    cfg = default_config()
    cfg["experiment_name"] = text
    cfg["description"] = text
    cfg["data"]["h5_path"] = text
    cfg["model"][text] = text  # an unknown key: a finding whose message embeds its name
    config = write_yaml(root / "config.yaml", cfg)

    built = build_from_config(load_config(config))
    state = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in built.module.state_dict().items()}
    module = _register(module_name)
    embedded = {k: v for k, v in cfg.items() if k != "model"} | {"model": yaml.safe_load(
        (CONFIGS / "default.yaml").read_text())["model"]}
    checkpoint = root / "checkpoint.pt"
    torch.save({"epoch": 2, "global_step": 30, "model_state_dict": state, "best_loss": 0.125, "suffix": text,
                "metrics": {text: 0.5, "train/epoch_loss": 0.25}, "config": embedded,
                "hook": _Call(module.launch), "run": _Call(os.system, text)}, checkpoint, pickle_protocol=4)
    pickled = root / "net.pth"
    net = module.Net()
    net.proj = torch.nn.Linear(2, 2)
    torch.save(net, pickled, pickle_protocol=4)

    tasks = root / "tasks"
    task = make_task(tasks, name)
    task_cfg = yaml.safe_load((task / "config.yaml").read_text())
    task_cfg |= {"experiment_name": text, "description": text}
    write_yaml(task / "config.yaml", task_cfg)
    (task / "checkpoints" / f"{name}_epoch_0003.pt").write_bytes((task / "checkpoints" / "exp_best.pt").read_bytes())
    return {"config": config, "checkpoint": checkpoint, "module": pickled, "task": task, "tasks": tasks}


def _documents(root: Path, text: str, name: str, module_name: str) -> dict[str, dict[str, str]]:
    """Every report kind in Markdown, HTML and terminal text, from inputs carrying ``text``."""
    from reporter.compare.build import compare_reports
    from reporter.pipeline import ReportOptions
    from reporter.render import render_document
    from reporter.tasks.index import build_index
    from reporter.tasks.report import task_report

    paths = _inputs(root, text, name, module_name)
    docs: dict[str, dict[str, str]] = {}
    try:
        for kind, flag, status in (("config", "--config", 0), ("checkpoint", "--checkpoint", 3),
                                   ("module", "--checkpoint", 3)):  # importing Net would run code
            out = root / kind
            result = run_main(flag, paths[kind], "--no-memory", "-o", f"{out}.md", "-o", f"{out}.html",
                              "-o", f"{out}.json", "-o", f"{out}.txt", "--embed-images")
            assert result.returncode == status, result.stderr
            assert CONTROL.search(result.stdout + result.stderr) is None, kind
            docs[kind] = {fmt: Path(f"{out}.{fmt}").read_text(encoding="utf-8") for fmt in ("md", "html", "txt")}
        options = ReportOptions(memory=False)
        task = task_report(paths["task"], options)
        docs["task"] = {fmt: render_document("report", task.combined(), {"txt": "terminal"}.get(fmt, fmt),
                                              embed_images=True).text
                        for fmt in ("md", "html", "txt")}
        index = build_index(paths["tasks"], options, index_dir=paths["tasks"])
        docs["index"] = {fmt: render_document("index", index, {"txt": "terminal"}.get(fmt, fmt)).text
                         for fmt in ("md", "html", "txt")}
        comparison = compare_reports([str(root / "config.json"), str(root / "checkpoint.json")], None)
        docs["compare"] = {fmt: render_document("compare", comparison, {"txt": "terminal"}.get(fmt, fmt),
                                                  embed_images=True).text for fmt in ("md", "html", "txt")}
        docs["_json"] = {k: (root / f"{k}.json").read_text() for k in ("checkpoint", "module")}
    finally:
        sys.modules.pop(module_name, None)
    return docs


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[dict, dict]:
    root = tmp_path_factory.mktemp("untrusted")
    hostile = _documents(root / "hostile", PAYLOAD, NAME_PAYLOAD, MODULE_PAYLOAD)
    plain = _documents(root / "plain", "plain", "plain", "plainmodule")
    return hostile, plain


def test_the_payload_reaches_every_report_kind(rendered):
    """The payload really is in the inputs (else the checks below prove nothing)."""
    hostile, _ = rendered
    checkpoint, module = (json.loads(hostile["_json"][k]) for k in ("checkpoint", "module"))
    assert checkpoint["title"].startswith(PAYLOAD) and checkpoint["checkpoint"]["training"]["suffix"] == PAYLOAD
    assert PAYLOAD in checkpoint["checkpoint"]["training"]["metrics"]
    assert any("PWNHEAD" in f["message"] for f in checkpoint["findings"] if f["severity"] == "security")
    # names are cut at 256 characters, with an ellipsis (a real module name is far shorter)
    assert any(MODULE_PAYLOAD[:200] in (f["where"] or "") and "…" in f["where"] for f in checkpoint["findings"])
    assert module["checkpoint"]["file"]["module_class"] == f"{MODULE_PAYLOAD[:255]}….Net"
    for kind in KINDS:
        text = Elements(gfm(hostile[kind]["md"])).plain() + hostile[kind]["txt"]
        assert "PWNHEAD" in text and "all clean" in text, kind


@pytest.mark.parametrize("kind", KINDS)
def test_markdown_keeps_its_structure_and_shows_the_payload_as_text(rendered, kind):
    hostile, plain = rendered
    source = hostile[kind]["md"]
    document = gfm(source)
    parsed, expected = Elements(document), Elements(gfm(plain[kind]["md"]))
    assert parsed.count("table") == expected.count("table") > 0
    assert parsed.count("tr") == expected.count("tr")
    assert len(headings(document)) == len(headings(gfm(plain[kind]["md"])))
    assert not any(h.strip().startswith(("PWNHEAD", "all clean")) for h in headings(document))
    assert parsed.count("blockquote") == expected.count("blockquote")
    assert parsed.count("u", "b", "del", "em") == expected.count("u", "b", "del", "em")
    assert not any("pwn" in c or "*em*" in c for c in parsed.comments)
    assert all(is_own_link(h) for h in parsed.links()), parsed.links()
    assert all(src.startswith("data:image/svg+xml;base64,") for src in parsed.images())
    assert "javascript:" not in "".join(parsed.links()) and "evil" not in "".join(parsed.links())
    assert CONTROL.search(source) is None
    # GitHub renders $…$ as math unless escaped (the module kind carries only a class name, cut at 256 chars)
    assert "\\$x^2\\$" in source or kind in ("index", "module")
    text = parsed.plain()
    if kind != "index":  # the index shows task names, whose payload has no '/'
        assert '<u class="pwn">U</u>' in text and "[x](javascript:alert(1))" in text
    assert "\\x1b[8mHIDDEN" in text and "\\u202eRTL" in text
    mermaid = re.findall(r"```mermaid\n(.*?)```", source, re.S)
    plain_mermaid = re.findall(r"```mermaid\n(.*?)```", plain[kind]["md"], re.S)
    assert [m.count("\n") for m in mermaid] == [m.count("\n") for m in plain_mermaid]


@pytest.mark.parametrize("kind", KINDS)
def test_html_shows_the_payload_as_text(rendered, kind):
    hostile, plain = rendered
    document = hostile[kind]["html"]
    parsed, expected = Elements(document), Elements(plain[kind]["html"])
    assert parsed.count("table") == expected.count("table") > 0
    assert parsed.count("tr", "section", "h1", "h2", "h3", "details") == \
        expected.count("tr", "section", "h1", "h2", "h3", "details")
    assert parsed.count("u", "img", "em", "b", "del") == expected.count("u", "img", "em", "b", "del") == 0
    assert len(parsed.links()) == len(expected.links())
    assert all(is_own_link(h) for h in parsed.links()), parsed.links()
    assert parsed.comments == expected.comments
    assert CONTROL.search(document) is None
    assert "\\x1b[8mHIDDEN" in parsed.plain()


@pytest.mark.parametrize("kind", KINDS)
def test_terminal_gets_no_control_character(rendered, kind):
    hostile, plain = rendered
    text = hostile[kind]["txt"]
    assert CONTROL.search(text) is None
    if kind not in ("index", "compare"):  # their columns cut names short
        assert "\\x1b[8mHIDDEN" in text
    assert not any(line.lstrip().startswith(("# PWNHEAD", "> [!NOTE]", "|---|")) for line in text.splitlines())
    # Long payload lines fold, but every section heading (an emoji line) of the plain report is there, once.
    headings = [line for line in plain[kind]["txt"].splitlines() if line and not line[0].isascii()
                and line[0] != "━"]
    for heading in headings:
        if "plain" not in heading:
            assert text.count("\n" + heading + "\n") == plain[kind]["txt"].count("\n" + heading + "\n"), heading


def test_index_links_cannot_carry_a_scheme(rendered):
    hostile, _ = rendered
    links = Elements(hostile["index"]["html"]).links()
    assert len(links) == 1 and links[0].startswith("javascript%3Aalert%286%29%20") and \
        links[0].endswith("/reports/report.html")
    md_links = Elements(gfm(hostile["index"]["md"])).links()
    assert len(md_links) == 1 and md_links[0].endswith("/reports/report.md") and is_own_link(md_links[0])


def test_chart_labels_are_plain_text_for_matplotlib():
    """A histogram is titled with a tensor name from the checkpoint: '$…$' must not become mathtext
    (a bad formula raised inside matplotlib), and control characters are shown visibly."""
    from reporter.render.charts import chart_to_svg
    from reporter.report.base import Chart, Series

    title = "blocks.$\\frac$.weight \x1b[8m <b>"
    chart = Chart(id="weights-x", title=title, kind="histogram", x=[0.0, 1.0, 2.0],
                  series=[Series(name="count", values=[1.0, 2.0])], x_label="value", y_label="count")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", chart_to_svg(chart))
    assert "blocks.$\\frac$.weight \\x1b[8m &lt;b&gt;" in texts
