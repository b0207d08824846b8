"""Turn a traced forward pass into the report's flow section: stages, side inputs, the shape table.

The steps come from the folding builder (folding.py), which folds repeated blocks found by their names
(``blocks.0``, ``blocks.1``, ...) when their traced structure is the same. Everything is derived from the
trace, so it holds for any ``nn.Module``: stages are split at the first and last repeated block and by
data dependence (a step feeding only the blocks' side inputs is conditioning). The only model-specific
text is the semantic labels an architecture spec provides (input channel names, what the output means,
where normalization is).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from reporter.flow.folding import StepBuilder, flow_tensor, resolve_aliases
from reporter.flow.trace import FlowGraph, TraceNode
from reporter.report.flow import (
    FlowNormalization,
    FlowSection,
    FlowStage,
    FlowStep,
    FlowTableRow,
    FlowTensor,
    HierarchyRow,
    SideInput,
)

STAGE_TITLES = {
    "inputs": "Inputs",
    "embedding": "Embeddings",
    "conditioning": "Conditioning",
    "blocks": "Repeated blocks",
    "body": "Layers",
    "output": "Output",
}


def _labels(steps: Iterable[FlowStep], into: dict[str, FlowStep]) -> dict[str, FlowStep]:
    for step in steps:
        into[step.id] = step
        _labels(step.children, into)
    return into


def _source_label(step: FlowStep) -> str:
    if step.kind in ("function", "chain") and step.sources:
        return step.label
    return step.name or step.label


def _side_inputs(step: FlowStep, by_id: dict[str, FlowStep]) -> list[SideInput]:
    """Inputs of a repeated block other than its main stream, with the inner steps that read them."""
    side = []
    for source in step.sources:
        if source == step.main_source or source not in by_id:
            continue
        producer = by_id[source]
        consumers = [c.id for c in step.children if source in c.sources]
        side.append(
            SideInput(
                source=source,
                label=_source_label(producer),
                tensor=producer.outputs[0] if producer.outputs else None,
                consumers=consumers,
            )
        )
    return side


def _short(step: FlowStep) -> str:
    """Name of a step as the source of another: the last name component plus any index after it."""
    if step.kind in ("module", "input"):
        parts = step.name.split(".")
        k = len(parts) - 1
        while k > 0 and parts[k].isdigit():
            k -= 1
        return ".".join(parts[k:]) or step.type
    if step.kind == "repeat":
        return step.members[0].rsplit(".", 1)[0] if step.members else step.type
    return step.name.split(" → ")[-1]


def _describe_sources(
    steps: list[FlowStep], by_id: dict[str, FlowStep], parent_input: str | None = None
) -> None:
    """Functional steps are named after what they combine: 'cat(t_mlp, y_mlp)', 'add(embedder, pos)';
    inside a module, its own input is called 'input'."""
    siblings = {s.id for s in steps}
    for step in steps:
        if step.kind in ("function", "chain"):
            names = [
                "input" if s == parent_input and s not in siblings else _short(by_id[s])
                for s in step.sources
                if s in by_id
            ]
            names += [u.rsplit(".", 1)[-1] for u in step.uses]
            if step.kind == "function" and names:
                step.label = f"{step.name}({', '.join(names)})"
            elif step.kind == "chain" and names:
                step.label = f"{', '.join(names)} → {step.name}"
        inner_input = step.main_source if step.kind in ("module", "repeat") else None
        _describe_sources(step.children, by_id, inner_input)


def _numel(tensor: FlowTensor) -> int:
    count = 1
    for dim in tensor.shape:
        count *= dim
    return count


def _main_stream(step: FlowStep, by_id: dict[str, FlowStep]) -> str | None:
    """The source carrying the largest tensor is the block's main stream (tokens or feature maps);
    smaller ones (a condition vector, a class token) are side inputs."""
    sized = [
        (max((_numel(t) for t in by_id[s].outputs), default=0), -k, s)
        for k, s in enumerate(step.sources)
        if s in by_id
    ]
    return max(sized)[2] if sized else step.main_source


def _ancestors(start: Iterable[str], by_id: dict[str, FlowStep], within: set[str]) -> set[str]:
    found: set[str] = set()
    pending = [s for s in start if s in within]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.add(current)
        pending.extend(s for s in by_id[current].sources if s in within)
    return found


def _stages(inputs: list[FlowStep], body: list[FlowStep], output: FlowStep) -> list[FlowStage]:
    by_id = {s.id: s for s in inputs + body}
    repeats = [i for i, s in enumerate(body) if s.kind == "repeat"]
    stages = [FlowStage(key="inputs", title=STAGE_TITLES["inputs"], steps=inputs)]
    if not repeats:
        if body:
            stages.append(FlowStage(key="body", title=STAGE_TITLES["body"], steps=body))
    else:
        first, last = repeats[0], repeats[-1]
        before = body[:first]
        within = {s.id for s in before}
        block = body[first]
        main = _ancestors([block.main_source] if block.main_source else [], by_id, within)
        side = _ancestors([s for s in block.sources if s != block.main_source], by_id, within) - main
        embedding = [s for s in before if s.id not in side]
        conditioning = [s for s in before if s.id in side]
        if embedding:
            stages.append(FlowStage(key="embedding", title=STAGE_TITLES["embedding"], steps=embedding))
        if conditioning:
            stages.append(
                FlowStage(key="conditioning", title=STAGE_TITLES["conditioning"], steps=conditioning)
            )
        stages.append(FlowStage(key="blocks", title=STAGE_TITLES["blocks"], steps=body[first : last + 1]))
        body = body[last + 1 :]
        stages.append(FlowStage(key="output", title=STAGE_TITLES["output"], steps=body + [output]))
        return stages
    stages.append(FlowStage(key="output", title=STAGE_TITLES["output"], steps=[output]))
    return stages


def _display_root(graph: FlowGraph) -> TraceNode:
    """The model itself, or the single module it wraps (e.g. a diffusion wrapper's .model)."""
    root = graph.nodes[0]
    while True:
        inner = [n for n in graph.children(root.id) if n.kind != "input"]
        if len(inner) == 1 and inner[0].kind == "module" and not inner[0].atomic:
            root = inner[0]
        else:
            return root


def _normalization(graph: FlowGraph, info: Any | None) -> FlowNormalization:
    observed = []
    for node in graph.nodes:
        if node.kind == "function":
            for name in node.uses:
                if name in graph.buffer_names:
                    observed.append(f"{node.name}({name})")
    stated = getattr(info, "where", None)
    where: Literal["forward", "dataloader", "unknown"] = stated if stated in ("forward", "dataloader") else "unknown"
    formula = getattr(info, "formula", None)
    buffers = list(getattr(info, "buffers", ()) or ())
    note = getattr(info, "note", "") or ""
    seen = ", ".join(observed)
    if where == "dataloader":
        summary = "Inputs arrive already normalized by the dataloader"
        summary += f" ({formula})" if formula else ""
        summary += "; the model's normalization buffers are metadata only"
        summary += (
            f". Note: the trace saw the forward pass read buffers: {seen}."
            if observed
            else " (the traced forward pass reads none of them)."
        )
    elif where == "forward":
        summary = "The forward pass normalizes its inputs"
        summary += f": {formula}" if formula else ""
        summary += f" (traced steps: {seen})." if observed else " (no buffer read was seen in the trace)."
    elif observed:
        summary = f"The forward pass reads buffers: {seen}; normalization may happen inside forward."
    else:
        summary = "No normalization step was seen in the forward pass; inputs are used as given."
    return FlowNormalization(
        where=where,
        formula=formula,
        buffers=buffers,
        note=note,
        observed_in_forward=observed,
        summary=summary,
    )


def _input_step(graph: FlowGraph, name: str, node_id: int, semantics: Any | None, where: str) -> FlowStep:
    node = graph.node(node_id)
    meaning = (getattr(semantics, "inputs", None) or {}).get(name)
    channels = list(getattr(meaning, "channels", ()) or ())
    description = getattr(meaning, "description", "") or ""
    if channels and where == "dataloader":
        description += " (normalized by the dataloader)"
    elif channels and where == "forward":
        description += " (raw; normalized inside forward)"
    return FlowStep(
        id=f"n{node_id}",
        kind="input",
        name=name,
        type="input",
        label=name,
        outputs=[flow_tensor(m) for m in node.outputs],
        channels=channels,
        description=description.strip(),
    )


def _output_step(graph: FlowGraph, semantics: Any | None, where: str) -> FlowStep:
    meaning = getattr(semantics, "output", None)
    channels = list(getattr(meaning, "channels", ()) or ())
    description = getattr(meaning, "description", "") or ""
    if description and where == "dataloader":
        description += " (in normalized space; denormalized after sampling)"
    return FlowStep(
        id="out",
        kind="output",
        name="output",
        type="output",
        label="output",
        inputs=[flow_tensor(m) for m in graph.outputs],
        outputs=[flow_tensor(m) for m in graph.outputs],
        sources=[f"n{s}" for s in dict.fromkeys(graph.output_sources) if s is not None],
        channels=channels,
        description=description,
    )


def _hierarchy(graph: FlowGraph) -> list[HierarchyRow]:
    return [
        HierarchyRow(
            name=node.name,
            type=node.type,
            kind=node.kind,
            depth=node.depth,
            inputs=[flow_tensor(m) for m in node.inputs],
            outputs=[flow_tensor(m) for m in node.outputs],
            own_params=node.own_params,
            uses=list(node.uses),
        )
        for node in graph.nodes[1:]
        if node.kind in ("module", "function")
    ]


def _row(stage: FlowStage, step: FlowStep, depth: int) -> FlowTableRow:
    note = ""
    if step.kind == "input" or step.kind == "output":
        note = " ".join(
            filter(None, ["[" + ", ".join(step.channels) + "]" if step.channels else "", step.description])
        )
    elif step.kind == "repeat":
        note = (
            f"{', '.join(step.members[:1])} … {step.members[-1]}; {step.member_params_total:,} params in all"
        )
        note += "".join(f"; side input {s.label}" for s in step.side_inputs)
    elif step.uses:
        note = "reads " + ", ".join(step.uses)
    counted = step.kind in ("module", "repeat") and step.params
    return FlowTableRow(
        stage=stage.title,
        depth=depth,
        step=step.label,
        kind=step.kind,
        inputs=", ".join(t.text for t in step.inputs),
        outputs=", ".join(t.text for t in step.outputs),
        params=f"{step.params:,}" + (" each" if step.kind == "repeat" else "") if counted else "",
        note=note,
    )


def _table(stages: list[FlowStage]) -> list[FlowTableRow]:
    rows = []
    for stage in stages:
        for step in stage.steps:
            rows.append(_row(stage, step, 0))
            if step.kind == "repeat":
                rows += [_row(stage, child, 1) for child in step.children]
    return rows


def build_flow_section(
    graph: FlowGraph, *, semantics: Any | None = None, normalization: Any | None = None, batch_size: int
) -> FlowSection:
    """Structure a traced forward pass into stages for the report.

    ``semantics`` is anything with ``inputs`` (name → object with ``description``/``channels``) and
    ``output`` attributes, such as an ``ArchitectureSpec``; ``normalization`` is a
    ``NormalizationInfo``-like object (``where``, ``formula``, ``buffers``, ``note``). Both optional.
    """
    norm = _normalization(graph, normalization)
    builder = StepBuilder(graph)
    root = _display_root(graph)
    body_nodes = [n for n in graph.children(root.id) if n.kind != "input"]
    body = builder.sequence(body_nodes, root.name)
    inputs = [_input_step(graph, name, nid, semantics, norm.where) for name, nid in graph.input_ids.items()]
    output = _output_step(graph, semantics, norm.where)
    resolve_aliases(body + [output], builder.alias)
    by_id = _labels(inputs + body + [output], {})
    for step in by_id.values():
        if step.kind == "repeat":
            step.main_source = _main_stream(step, by_id)
    _describe_sources(body, by_id)
    for step in by_id.values():
        if step.kind == "repeat":
            step.side_inputs = _side_inputs(step, by_id)
    tokens = next((max(s.inputs, key=_numel) for s in body if s.kind == "repeat" and s.inputs), None)
    notes = []
    for step in body:
        if step.kind == "repeat" and not step.identical:
            notes.append(
                f"{step.label}: instances share their structure but differ in parameters "
                f"({', '.join(f'{p:,}' for p in step.member_params)}); the diagram shows {step.members[0]}."
            )
    if batch_size and graph.outputs and graph.outputs[0].shape and graph.outputs[0].shape[0] != batch_size:
        notes.append(
            f"The traced output's first dimension is {graph.outputs[0].shape[0]}, not the batch size."
        )
    stages = _stages(inputs, body, output)
    return FlowSection(
        model_class=graph.model_class,
        batch_size=batch_size,
        total_params=graph.total_params,
        stages=stages,
        table=_table(stages),
        tokens=tokens,
        normalization=norm,
        hierarchy=_hierarchy(graph),
        notes=notes,
    )
