"""Mermaid rendering of the flow section: a ``flowchart TD`` that GitHub draws in Markdown.

Stages become subgraphs, a folded block becomes a subgraph holding one instance's inner sequence,
side inputs (e.g. the condition vector) are dotted edges into the inner steps that read them.
Every label is quoted and escaped (reporter.render.escape.mermaid_label), so no name can end its
label, node or diagram.
"""

from __future__ import annotations

from reporter.render.escape import Safe, mermaid_label
from reporter.report.flow import FlowSection, FlowStep


def _quote(text: str) -> str:
    """A quoted Mermaid label."""
    return '"' + mermaid_label(text) + '"'


def _label(step: FlowStep) -> str:
    """Lines of a node label, joined with <br/> after escaping each line."""
    lines = [step.label]
    if step.kind == "input" and step.channels:
        lines.append("[" + ", ".join(step.channels) + "]")
    if step.outputs:
        lines.append(" ".join(t.text for t in step.outputs[:1]))
    if step.kind == "output" and step.channels:
        lines.append(f"{step.description} [" + ", ".join(step.channels) + "]")
    if step.kind == "module" and step.params:
        lines.append(f"{step.params:,} params")
    escaped = [_quote(line)[1:-1] for line in lines]
    return '"' + "<br/>".join(escaped) + '"'


def _node(step: FlowStep) -> str:
    if step.kind in ("input", "output"):
        return f"{step.id}([{_label(step)}])"
    if step.kind in ("function", "chain"):
        return f"{step.id}{{{{{_label(step)}}}}}"
    return f"{step.id}[{_label(step)}]"


def _repeat_lines(step: FlowStep, edges: list[str], indent: str) -> list[str]:
    each = f"{step.params:,} params each" if step.identical else "params differ"
    title = f"{step.label}: {step.members[0]} … {step.members[-1]} ({each})"
    lines = [f"{indent}subgraph {step.id}[{_quote(title)}]", f"{indent}  direction TB"]
    inner = {c.id for c in step.children}
    for child in step.children:
        lines.append(f"{indent}  {_node(child)}")
    previous: str | None = None
    for child in step.children:
        for source in child.sources:
            if source in inner:
                edges.append(f"{source} --> {child.id}")
            elif source == step.main_source:
                edges.append(f"{source} -->|block input| {child.id}")
        for side in step.side_inputs:
            if child.id in side.consumers:
                edges.append(f"{side.source} -.->|{_quote(side.label)}| {child.id}")
        previous = child.id
    lines.append(f"{indent}end")
    if previous is not None:
        edges.append(f"{previous} -.->|next block| {step.children[0].id}")
    return lines


def flow_to_mermaid(section: FlowSection) -> Safe:
    """The flow as Mermaid source (without the ```mermaid fence)."""
    lines = ["flowchart TD"]
    edges: list[str] = []
    exit_of: dict[str, str] = {}
    for stage in section.stages:
        lines.append(f"  subgraph stage_{stage.key}[{_quote(stage.title)}]")
        for step in stage.steps:
            if step.kind == "repeat" and step.children:
                lines += _repeat_lines(step, edges, "    ")
                exit_of[step.id] = step.children[-1].id
            else:
                lines.append(f"    {_node(step)}")
        lines.append("  end")
    for stage in section.stages:
        for step in stage.steps:
            if step.kind == "repeat" and step.children:
                continue
            for source in step.sources:
                edges.append(f"{exit_of.get(source, source)} --> {step.id}")
    lines += [f"  {edge}" for edge in edges]
    return Safe("\n".join(lines) + "\n")
