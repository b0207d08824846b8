"""Turn a traced forward pass into the report's flow section: stages, folded blocks, side inputs.

Everything here is derived from the trace, so it holds for any ``nn.Module``: repeated blocks are
found by their names (``blocks.0``, ``blocks.1``, ...) and folded when their traced structure is the
same; stages are split at the first and last repeated block and by data dependence (a step feeding
only the blocks' side inputs is conditioning). The only model-specific text is the semantic labels
an architecture spec provides (input channel names, what the output means, where normalization is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from reporter.flow.trace import FlowGraph, TensorMeta, TraceNode
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
from reporter.text import shape_text

STAGE_TITLES = {
    "inputs": "Inputs",
    "embedding": "Embeddings",
    "conditioning": "Conditioning",
    "blocks": "Repeated blocks",
    "body": "Layers",
    "output": "Output",
}


def _tensor(meta: TensorMeta) -> FlowTensor:
    return FlowTensor(shape=list(meta.shape), dtype=meta.dtype, text=shape_text(meta.shape))


def _relative(name: str, parent: str) -> str:
    return name[len(parent) + 1 :] if parent and name.startswith(parent + ".") else name


def _instance_key(node: TraceNode, parent: str) -> tuple[str, int] | None:
    """('blocks', 3) for a module named <parent>.blocks.3[.…]; None for anything not indexed."""
    if node.kind != "module":
        return None
    parts = _relative(node.name, parent).split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[:i]), int(part)
    return None


class _Builder:
    """Builds steps from trace nodes; records which node ids a folded or chained step stands for."""

    def __init__(self, graph: FlowGraph) -> None:
        self.graph = graph
        self.alias: dict[str, str] = {}
        self.consumers: dict[int, set[int]] = {}
        for node in graph.nodes:
            for source in node.input_sources:
                if source is not None:
                    self.consumers.setdefault(source, set()).add(node.id)
        for source in graph.output_sources:
            if source is not None:
                self.consumers.setdefault(source, set()).add(-1)

    # --- signatures used to decide whether instances are the same block --------------------
    def _signature(self, node: TraceNode, stem: str, with_params: bool) -> tuple:
        name = re.sub(rf"^{re.escape(stem)}(?=\.|$)", "*", node.name)
        return (
            node.kind,
            name,
            node.type,
            tuple(m.shape for m in node.inputs),
            tuple(m.shape for m in node.outputs),
            node.total_params if with_params else None,
            tuple(self._signature(c, stem, with_params) for c in self.graph.children(node.id)),
        )

    def _group_signature(self, group: list[TraceNode], stem: str, with_params: bool) -> tuple:
        return tuple(self._signature(n, stem, with_params) for n in group)

    # --- sequences ---------------------------------------------------------------------------
    def sequence(self, nodes: list[TraceNode], parent: str) -> list[FlowStep]:
        steps: list[FlowStep] = []
        free_from = 0  # nodes before this index belong to an earlier repeated run
        i = 0
        while i < len(nodes):
            key = _instance_key(nodes[i], parent)
            if key is None:
                steps.append(self.single(nodes[i]))
                i += 1
                continue
            groups, end, lead = self._instance_groups(nodes, i, free_from, parent, key[0])
            if lead:
                del steps[-lead:]
            for run in self._runs(groups, parent, key[0]):
                if len(run) == 1:
                    steps.extend(self.single(n) for n in run[0])
                else:
                    steps.append(self.repeat(run, parent, key[0]))
            i = free_from = end
        return self._chains(steps)

    def _instance_groups(
        self, nodes: list[TraceNode], start: int, free_from: int, parent: str, prefix: str
    ) -> tuple[list[list[TraceNode]], int, int]:
        """Consecutive instances prefix.0, prefix.1, … and the functional steps between them.

        The steps between two instances either close the instance before (trailing) or open the
        next one (leading, e.g. a concat that prepares each block's input); both splits are tried
        and the one that folds more instances wins. Returns the groups, the index after the last
        one, and how many nodes before ``start`` the first group took.
        """
        starts: list[int] = []
        index: int | None = None
        keyed_end = start
        j = start
        while j < len(nodes):
            key = _instance_key(nodes[j], parent)
            if key is not None and key[0] == prefix:
                if key[1] != index:
                    starts.append(j)
                    index = key[1]
                keyed_end = j + 1
            elif not (key is None and nodes[j].kind == "function"):
                break
            j += 1
        if len(starts) == 1:
            return [nodes[start:keyed_end]], keyed_end, 0
        first = nodes[starts[0] : starts[1]]
        between = len(first) - 1 - max(k for k, n in enumerate(first) if n.kind == "module")
        available = len(nodes) - keyed_end
        extra = 0
        while extra < min(between, available) and nodes[keyed_end + extra].kind == "function":
            extra += 1
        bounds = starts + [keyed_end]
        trailing = [nodes[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
        trailing[-1] = nodes[starts[-1] : keyed_end + extra]
        options = [(trailing, keyed_end + extra, 0)]
        lead = between
        if 0 < lead <= start - free_from and all(n.kind == "function" for n in nodes[start - lead : start]):
            leading = [nodes[a - lead : b - lead] for a, b in zip(bounds, bounds[1:], strict=False)]
            leading[-1] = nodes[starts[-1] - lead : keyed_end]
            options.append((leading, keyed_end, lead))
        return min(options, key=lambda o: len(self._runs(o[0], parent, prefix)))

    def _runs(self, groups: list[list[TraceNode]], parent: str, prefix: str) -> list[list[list[TraceNode]]]:
        """Split instances into runs of the same traced structure (shapes, types, order)."""
        runs: list[list[list[TraceNode]]] = []
        previous: tuple | None = None
        for group in groups:
            stem = self._stem(group, parent, prefix)
            signature = self._group_signature(group, stem, with_params=False)
            if runs and signature == previous:
                runs[-1].append(group)
            else:
                runs.append([group])
            previous = signature
        return runs

    @staticmethod
    def _stem(group: list[TraceNode], parent: str, prefix: str) -> str:
        key = next(_instance_key(n, parent) for n in group if n.kind == "module")
        head = f"{parent}.{prefix}" if parent and prefix else parent or prefix
        return f"{head}.{key[1]}" if head else str(key[1])

    # --- steps -------------------------------------------------------------------------------
    def single(self, node: TraceNode) -> FlowStep:
        children = [] if node.atomic else self.sequence(self.graph.children(node.id), node.name)
        if node.kind == "function":
            label = node.name + (f" {', '.join(node.uses)}" if node.uses else "")
        else:
            parent = self.graph.node(node.parent).name if node.parent is not None else ""
            short = _relative(node.name, parent)
            label = f"{short}: {node.type}" if short else node.type
        return FlowStep(
            id=f"n{node.id}",
            kind=node.kind,
            name=node.name,
            type=node.type,
            label=label,
            inputs=[_tensor(m) for m in node.inputs],
            outputs=[_tensor(m) for m in node.outputs],
            params=node.total_params,
            sources=[f"n{s}" for s in node.sources],
            uses=list(node.uses),
            children=children,
            main_source=f"n{node.input_sources[0]}"
            if node.input_sources and node.input_sources[0] is not None
            else None,
        )

    def repeat(self, run: list[list[TraceNode]], parent: str, prefix: str) -> FlowStep:
        first, last = run[0], run[-1]
        step_id = f"r{first[0].id}"
        member_ids = {n.id for group in run for n in group}
        for node_id in member_ids:
            self.alias[f"n{node_id}"] = step_id
        sources: list[str] = []
        for group in run:
            for node in group:
                for source in node.sources:
                    if source not in member_ids and f"n{source}" not in sources:
                        sources.append(f"n{source}")
        modules = [n for n in first if n.kind == "module"]
        if len(first) == 1:
            children = self.sequence(self.graph.children(first[0].id), first[0].name)
            type_name = first[0].type
        stems = [self._stem(group, parent, prefix) for group in run]
        if len(first) != 1:
            children = self.sequence(first, parent)
            for child in children:
                if child.kind == "module":
                    child.label = f"{_relative(child.name, stems[0])}: {child.type}"
            type_name = " + ".join(dict.fromkeys(n.type for n in modules))
        member_params = [sum(n.total_params for n in group if n.kind == "module") for group in run]
        main = first[0].input_sources[0] if first[0].input_sources else None
        return FlowStep(
            id=step_id,
            kind="repeat",
            name=f"{stems[0]} … {stems[-1]}",
            type=type_name,
            label=f"{type_name} × {len(run)}",
            inputs=[_tensor(m) for m in first[0].inputs],
            outputs=[_tensor(m) for m in last[-1].outputs],
            params=member_params[0],
            sources=sources,
            children=children,
            main_source=f"n{main}" if main is not None else None,
            repeat=len(run),
            members=stems,
            member_params=member_params,
            member_params_total=sum(member_params),
            identical=len(set(member_params)) == 1
            and len({self._group_signature(g, s, True) for g, s in zip(run, stems, strict=True)}) == 1,
        )

    def _chains(self, steps: list[FlowStep]) -> list[FlowStep]:
        """Merge runs of functional steps that only feed each other (e.g. a sinusoidal embedding:
        index → mul → cat) into one chain step whose children keep each step."""
        merged: list[FlowStep] = []
        run: list[FlowStep] = []

        def flush() -> None:
            if len(run) >= 2:
                chain_id = "c" + run[0].id[1:]
                for member in run:
                    self.alias[member.id] = chain_id
                merged.append(
                    FlowStep(
                        id=chain_id,
                        kind="chain",
                        name=" → ".join(s.name for s in run),
                        type="chain",
                        label=" → ".join(s.name for s in run),
                        inputs=run[0].inputs,
                        outputs=run[-1].outputs,
                        sources=run[0].sources,
                        uses=[u for s in run for u in s.uses],
                        children=list(run),
                        main_source=run[0].main_source,
                    )
                )
            else:
                merged.extend(run)
            run.clear()

        for step in steps:
            if (
                step.kind == "function"
                and run
                and step.sources == [run[-1].id]
                and self._single_consumer(run[-1])
            ):
                run.append(step)
                continue
            flush()
            if step.kind == "function":
                run.append(step)
            else:
                merged.append(step)
        flush()
        return merged

    def _single_consumer(self, step: FlowStep) -> bool:
        return len(self.consumers.get(int(step.id[1:]), set())) == 1


def _resolve(steps: list[FlowStep], alias: dict[str, str]) -> None:
    """Point references at the steps that stand for folded/chained nodes (siblings stay direct)."""

    def target(ref: str, siblings: set[str]) -> str:
        seen = set()
        while ref not in siblings and ref in alias and ref not in seen:
            seen.add(ref)
            ref = alias[ref]
        return ref

    siblings = {s.id for s in steps}
    for step in steps:
        step.sources = list(
            dict.fromkeys(r for r in (target(s, siblings) for s in step.sources) if r != step.id)
        )
        if step.main_source is not None:
            step.main_source = target(step.main_source, siblings)
        _resolve(step.children, alias)


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
    where = getattr(info, "where", None) or "unknown"
    if where not in ("forward", "dataloader"):
        where = "unknown"
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
        outputs=[_tensor(m) for m in node.outputs],
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
        inputs=[_tensor(m) for m in graph.outputs],
        outputs=[_tensor(m) for m in graph.outputs],
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
            inputs=[_tensor(m) for m in node.inputs],
            outputs=[_tensor(m) for m in node.outputs],
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
    builder = _Builder(graph)
    root = _display_root(graph)
    body_nodes = [n for n in graph.children(root.id) if n.kind != "input"]
    body = builder.sequence(body_nodes, root.name)
    inputs = [_input_step(graph, name, nid, semantics, norm.where) for name, nid in graph.input_ids.items()]
    output = _output_step(graph, semantics, norm.where)
    _resolve(body + [output], builder.alias)
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
