"""Fold a traced forward pass into steps: one step per module call or functional step, runs of
identical blocks (``blocks.0`` … ``blocks.N`` with the same traced structure) folded into one repeated
step, and chains of functional steps that only feed each other merged. structure.py arranges these
steps into stages.

Folding is decided by names and traced structure only, so it holds for any ``nn.Module``. The builder
records which node ids a folded or chained step stands for (``alias``); ``resolve_aliases`` then points
every step's sources at the steps that exist.
"""

from __future__ import annotations

import re

from reporter.flow.trace import FlowGraph, TensorMeta, TraceNode
from reporter.report.flow import FlowStep, FlowTensor
from reporter.text import shape_text


def flow_tensor(meta: TensorMeta) -> FlowTensor:
    return FlowTensor(shape=list(meta.shape), dtype=meta.dtype, text=shape_text(meta.shape))


def relative_name(name: str, parent: str) -> str:
    return name[len(parent) + 1 :] if parent and name.startswith(parent + ".") else name


def _instance_key(node: TraceNode, parent: str) -> tuple[str, int] | None:
    """('blocks', 3) for a module named <parent>.blocks.3[.…]; None for anything not indexed."""
    if node.kind != "module":
        return None
    parts = relative_name(node.name, parent).split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[:i]), int(part)
    return None


class StepBuilder:
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
        key = next(k for n in group if n.kind == "module" and (k := _instance_key(n, parent)) is not None)
        head = f"{parent}.{prefix}" if parent and prefix else parent or prefix
        return f"{head}.{key[1]}" if head else str(key[1])

    # --- steps -------------------------------------------------------------------------------
    def single(self, node: TraceNode) -> FlowStep:
        children = [] if node.atomic else self.sequence(self.graph.children(node.id), node.name)
        if node.kind == "function":
            label = node.name + (f" {', '.join(node.uses)}" if node.uses else "")
        else:
            parent = self.graph.node(node.parent).name if node.parent is not None else ""
            short = relative_name(node.name, parent)
            label = f"{short}: {node.type}" if short else node.type
        return FlowStep(
            id=f"n{node.id}",
            kind=node.kind,
            name=node.name,
            type=node.type,
            label=label,
            inputs=[flow_tensor(m) for m in node.inputs],
            outputs=[flow_tensor(m) for m in node.outputs],
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
                    child.label = f"{relative_name(child.name, stems[0])}: {child.type}"
            type_name = " + ".join(dict.fromkeys(n.type for n in modules))
        member_params = [sum(n.total_params for n in group if n.kind == "module") for group in run]
        main = first[0].input_sources[0] if first[0].input_sources else None
        return FlowStep(
            id=step_id,
            kind="repeat",
            name=f"{stems[0]} … {stems[-1]}",
            type=type_name,
            label=f"{type_name} × {len(run)}",
            inputs=[flow_tensor(m) for m in first[0].inputs],
            outputs=[flow_tensor(m) for m in last[-1].outputs],
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


def resolve_aliases(steps: list[FlowStep], alias: dict[str, str]) -> None:
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
        resolve_aliases(step.children, alias)
