"""Flow renderers: SVG well-formed and self-contained, Mermaid plausible, terminal layout."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from helpers import flow_of, model_section

from reporter.render.flow_mermaid import flow_to_mermaid
from reporter.render.flow_svg import WIDTH, flow_to_svg
from reporter.render.flow_text import flow_to_text

SVG_NS = "{http://www.w3.org/2000/svg}"


def _section(change: dict | None = None, batch_size: int = 512, config: str = "default.yaml"):
    return flow_of({**model_section(config), **(change or {})}, batch_size)


@pytest.fixture(scope="module")
def default_section():
    return _section()


@pytest.fixture(scope="module")
def large_section():
    return _section(config="large_model.yaml")  # dit H768, depth 12, 12 heads, FiLM


def test_svg_is_well_formed_self_contained_and_deterministic(default_section):
    svg = flow_to_svg(default_section)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert not list(root.iter(f"{SVG_NS}script"))
    assert "<script" not in svg and "@import" not in svg and "url(http" not in svg
    assert re.findall(r"https?://[^\"']+", svg) == ["http://www.w3.org/2000/svg"]
    assert flow_to_svg(default_section) == svg
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]
    for expected in [
        "x_sig_t",
        "(512, 2, 5160)  float32",
        "(512, 3, 5160)  float32",
        "DiTBlock × 3",
        "× 3",
        "→ (512, 5160, 16)",
        "cat(t_mlp, y_mlp) (512, 16)",
        "(512, 2, 5160)",
    ]:
        assert expected in texts, expected


def test_svg_of_a_12_block_model_stays_inside_its_canvas(large_section):
    svg = flow_to_svg(large_section)
    root = ET.fromstring(svg)
    width, height = float(root.get("width")), float(root.get("height"))
    assert width == WIDTH and height < 2400  # folded: the 12 blocks take the room of one
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]
    assert "DiTBlock × 12" in texts and "× 12" in texts
    assert "(512, 5160, 768)" in " ".join(texts)
    for element in root.iter():
        for attr in ("x", "y", "width", "height"):
            if element.get(attr) is not None:
                assert 0 <= float(element.get(attr)) <= max(width, height)
    for rect in root.iter(f"{SVG_NS}rect"):
        assert float(rect.get("x")) + float(rect.get("width")) <= width
        assert float(rect.get("y")) + float(rect.get("height")) <= height


def _outside_quotes(text: str) -> str:
    return re.sub(r'"[^"]*"', '""', text)


def test_mermaid_is_syntactically_plausible(default_section):
    mermaid = flow_to_mermaid(default_section)
    lines = mermaid.splitlines()
    assert lines[0] == "flowchart TD"
    assert mermaid.count('"') % 2 == 0
    bare = _outside_quotes(mermaid)
    for opening, closing in ("[]", "()", "{}"):
        assert bare.count(opening) == bare.count(closing)
    opened = sum(1 for line in lines if line.strip().startswith("subgraph "))
    assert opened == sum(1 for line in lines if line.strip() == "end") == 6  # 5 stages + the folded block
    defined = set()
    for line in lines:
        match = re.match(r'\s*(\w+)(\(\[|\[|\{\{)"(.*)"(\]\)|\]|\}\})$', line)
        if match:
            defined.add(match.group(1))
            assert '"' not in match.group(3)  # inner quotes are escaped
    edges = [line.strip() for line in lines if "-->" in line or "-.->" in line]
    for edge in edges:
        ids = re.findall(r"^(\w+)|(\w+)$", _outside_quotes(edge))
        for pair in ids:
            node = pair[0] or pair[1]
            assert node in defined, edge
    assert '"DiTBlock × 3: blocks.0 … blocks.2 (4,306 params each)"' in mermaid
    assert any("-.->" in e and "cat(t_mlp, y_mlp)" in e for e in edges)
    assert '"x_sig_t<br/>[charge, time]<br/>(512, 2, 5160)"' in mermaid


def test_terminal_text_follows_the_seed_layout(default_section):
    text = flow_to_text(default_section)
    order = [
        text.index(h)
        for h in ("📥 INPUTS", "🔀 EMBEDDINGS", "🎛  CONDITIONING", "🔄 REPEATED BLOCKS", "🎯 OUTPUT")
    ]
    assert order == sorted(order)
    assert "x_sig_t: (512, 2, 5160)" in text and "[charge, time]" in text
    assert "DiTBlock × 3   (blocks.0 … blocks.2)" in text
    assert "4,306 params each, 12,918 in all" in text
    assert "📤 output: (512, 2, 5160)  [charge, time]  ε-prediction" in text
    assert "normalized by the dataloader" in text
    assert "blocks.2.mlp.fc2" not in text
    verbose = flow_to_text(default_section, verbose=True)
    assert "MODULE HIERARCHY" in verbose
    assert re.search(
        r"blocks\.2\.mlp\.fc2 \[Linear\]\s+\(512, 5160, 64\) → \(512, 5160, 16\)  1,040", verbose
    )


def test_json_form_round_trips(default_section):
    from reporter.report.flow import FlowSection

    again = FlowSection.model_validate_json(default_section.model_dump_json())
    assert again == default_section


def test_shape_table_and_its_markdown(default_section):
    from types import SimpleNamespace

    from reporter.render.environment import environment
    from reporter.render.flow_mermaid import flow_to_mermaid

    rows = {(r.depth, r.step): r for r in default_section.table}
    block = rows[(0, "DiTBlock × 3")]
    assert block.params == "4,306 each" and "12,918 params in all" in block.note
    assert "side input cat(t_mlp, y_mlp)" in block.note
    assert rows[(1, "mlp: MLP")].params == "2,128"
    assert rows[(0, "add(embedder, pos)")].note == "reads pos"
    assert rows[(0, "output")].outputs == "(512, 2, 5160)"
    section = environment("md").get_template("markdown/sections/flow.md.j2").render(
        report=SimpleNamespace(flow=default_section), flow_mermaid=flow_to_mermaid).splitlines()
    start = next(i for i, line in enumerate(section) if line.startswith("| Stage |"))
    markdown = section[start:section.index("", start)]  # the table: up to the next blank line
    assert markdown[0] == "| Stage | Step | Inputs | Output | Params | Note |"
    assert len(markdown) == 2 + len(default_section.table)
    assert all(line.count("|") - line.count("\\|") == 7 for line in markdown)
    assert "| Repeated blocks | `↳ mlp: MLP` | (512, 5160, 16) | (512, 5160, 16) | 2,128 |   |" in markdown
