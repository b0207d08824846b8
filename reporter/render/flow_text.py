"""Terminal rendering of the flow section: the seed inspector's stage layout, generated from the trace."""

from __future__ import annotations

from reporter.render.escape import Safe, visible
from reporter.render.flow_words import params_each, params_in_all
from reporter.report.flow import FlowSection, FlowStep, FlowTensor

WIDTH = 80
_ICONS = {
    "inputs": "📥",
    "embedding": "🔀",
    "conditioning": "🎛 ",
    "blocks": "🔄",
    "body": "🧱",
    "output": "🎯",
}


def _shapes(tensors: list[FlowTensor]) -> str:
    return ", ".join(t.text for t in tensors) or "—"


def _params(count: int) -> str:
    return f"{count:,} params" if count else ""


def _step_line(step: FlowStep, indent: str, label_width: int) -> str:
    flow = f"{_shapes(step.inputs)} → {_shapes(step.outputs)}"
    line = f"{indent}{step.label:<{label_width}}  {flow}"
    extra = _params(step.params) if step.kind == "module" else ""
    return f"{line}  {extra}".rstrip()


def _input_lines(step: FlowStep, width: int) -> list[str]:
    shape = _shapes(step.outputs)
    channels = f"[{', '.join(step.channels)}]  " if step.channels else ""
    dtype = step.outputs[0].dtype if step.outputs else ""
    return [f"  {step.name + ':':<{width}} {shape:<18} {dtype:<8} {channels}{step.description}".rstrip()]


def _repeat_lines(step: FlowStep, section: FlowSection) -> list[str]:
    lines = [
        f"  {step.label}   ({step.members[0]} … {step.members[-1]})",
        f"     {_shapes(step.inputs)} → {_shapes(step.outputs)}   {params_each(step)}, {params_in_all(step)}",
    ]
    for side in step.side_inputs:
        consumers = [section.step(c) for c in side.consumers]
        names = ", ".join(c.name.rsplit(".", 1)[-1] for c in consumers if c is not None)
        tensor = side.tensor.text if side.tensor else ""
        lines.append(f"     side input {side.label} {tensor} → {names or 'block'} in every block")
    lines.append(f"  For each block ({step.members[0]} shown):")
    width = max((len(c.label) for c in step.children), default=0)
    for number, child in enumerate(step.children, start=1):
        marks = [s.label for s in step.side_inputs if child.id in s.consumers]
        suffix = f"  ← {', '.join(marks)}" if marks else ""
        lines.append(_step_line(child, f"    {number:>2}. ", width) + suffix)
    return lines


def _stage_lines(section: FlowSection, verbose: bool) -> list[str]:
    lines: list[str] = []
    rule = "━" * WIDTH
    for stage in section.stages:
        lines += [rule, f"{_ICONS.get(stage.key, '•')} {stage.title.upper()}", rule]
        if stage.key == "inputs":
            width = max(len(s.name) for s in stage.steps) + 1 if stage.steps else 1
            for step in stage.steps:
                lines += _input_lines(step, width)
            lines.append("")
            continue
        width = max((len(s.label) for s in stage.steps if s.kind not in ("repeat", "output")), default=0)
        for step in stage.steps:
            if step.kind == "repeat":
                lines += _repeat_lines(step, section)
            elif step.kind == "output":
                channels = f"[{', '.join(step.channels)}]  " if step.channels else ""
                lines.append(f"  📤 output: {_shapes(step.outputs)}  {channels}{step.description}".rstrip())
            else:
                lines.append(_step_line(step, "  ", width))
                if verbose and step.kind == "chain":
                    lines += [_step_line(c, "      ", width) for c in step.children]
        lines.append("")
    return lines


def _hierarchy_lines(section: FlowSection) -> list[str]:
    lines = ["━" * WIDTH, "🧬 MODULE HIERARCHY (every traced call)", "━" * WIDTH]
    for row in section.hierarchy:
        name = (
            row.name
            if row.kind == "module"
            else f"{row.name}({', '.join(row.uses)})"
            if row.uses
            else row.name
        )
        head = f"{'  ' * row.depth}{name}" + (f" [{row.type}]" if row.kind == "module" else " ƒ")
        flow = f"{_shapes(row.inputs)} → {_shapes(row.outputs)}"
        params = f"  {row.own_params:,}" if row.own_params else ""
        lines.append(f"{head:<48} {flow}{params}")
    return lines


def flow_to_text(section: FlowSection, verbose: bool = False) -> Safe:
    """The forward-pass flow as terminal text; ``verbose`` adds every traced call with its shapes.
    Names come from the model (user code for --model-class), so each line is made safe to print."""
    lines = [
        "🔄 Model Forward Pass Flow",
        "=" * WIDTH,
        f"{section.model_class}: batch {section.batch_size}, {section.total_params:,} parameters",
        "",
    ]
    lines += _stage_lines(section, verbose)
    lines += ["⚙️  Normalization: " + section.normalization.summary]
    if section.normalization.note:
        lines.append("   " + section.normalization.note)
    lines += [f"⚠️  {note}" for note in section.notes]
    if verbose:
        lines += [""] + _hierarchy_lines(section)
    return Safe("\n".join(visible(line) for line in lines) + "\n")
