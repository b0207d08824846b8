"""Trace a model's forward pass on fake tensors: every module call and every shape-changing step.

Why fake tensors: a report must describe a billion-parameter model on a laptop. Under
``FakeTensorMode`` every tensor carries only shape and dtype, so the forward pass costs no memory
and runs in seconds, yet it is the model's own code that runs: the flow we draw is the flow the
model executes, not a description someone wrote for one class.

What is recorded:
- every ``nn.Module`` call (qualified name, class, input/output shapes and dtypes, own parameters),
  through forward pre/post hooks;
- functional steps written directly in a ``forward`` (transpose, cat, reshape, the add of a
  positional embedding, residual adds, ...) through a ``TorchFunctionMode``. A step is kept when it
  merges two data paths (or a path with a parameter/buffer), changes the shape, or reorders axes;
  other element-wise steps (activations, casts, scalar arithmetic) pass their input's origin through.
  Steps inside "atomic" modules (leaf modules and torch.nn's own layers) are their implementation,
  not the model's flow, and are not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

NodeKind = Literal["input", "module", "function"]

# Functional steps recorded even when they keep the shape: they reorder or join axes.
_ALWAYS_RECORDED = {
    "transpose",
    "permute",
    "swapaxes",
    "swapdims",
    "movedim",
    "t",
    "cat",
    "concat",
    "concatenate",
    "stack",
}
# Dunder names mapped to the operation a reader knows.
_OP_ALIASES = {
    "add": "add",
    "radd": "add",
    "iadd": "add",
    "sub": "sub",
    "rsub": "sub",
    "isub": "sub",
    "mul": "mul",
    "rmul": "mul",
    "imul": "mul",
    "truediv": "div",
    "rtruediv": "div",
    "itruediv": "div",
    "matmul": "matmul",
    "rmatmul": "matmul",
    "getitem": "index",
}
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


class FlowTraceError(RuntimeError):
    """The model's forward pass could not run on fake tensors (e.g. it reads tensor values with
    ``.item()`` or branches on them); the message names the module that was running."""


@dataclass(frozen=True)
class TensorMeta:
    """Shape and dtype of one tensor seen during the trace."""

    shape: tuple[int, ...]
    dtype: str

    @classmethod
    def of(cls, tensor: torch.Tensor) -> TensorMeta:
        return cls(tuple(int(s) for s in tensor.shape), str(tensor.dtype).removeprefix("torch."))


@dataclass
class TraceNode:
    """One step of the forward pass: an input, a module call or a recorded functional step.

    ``input_sources`` is aligned with ``inputs``: the id of the node that produced each input tensor,
    or None when it was a constant or a parameter/buffer (whose names are listed in ``uses``).
    """

    id: int
    kind: NodeKind
    name: str
    type: str
    parent: int | None
    depth: int
    inputs: list[TensorMeta] = field(default_factory=list)
    input_sources: list[int | None] = field(default_factory=list)
    outputs: list[TensorMeta] = field(default_factory=list)
    own_params: int = 0
    total_params: int = 0
    uses: list[str] = field(default_factory=list)
    atomic: bool = False
    children: list[int] = field(default_factory=list)

    @property
    def sources(self) -> list[int]:
        """Distinct producing nodes of the inputs, in first-use order."""
        seen: list[int] = []
        for source in self.input_sources:
            if source is not None and source not in seen:
                seen.append(source)
        return seen


@dataclass
class FlowGraph:
    """The traced forward pass: nodes in execution order; node 0 is the call of the model itself."""

    model_class: str
    nodes: list[TraceNode]
    input_ids: dict[str, int]
    output_sources: list[int | None]
    outputs: list[TensorMeta]
    total_params: int
    buffer_names: frozenset[str] = frozenset()

    def node(self, node_id: int) -> TraceNode:
        return self.nodes[node_id]

    def children(self, node_id: int) -> list[TraceNode]:
        return [self.nodes[i] for i in self.nodes[node_id].children]


def _is_atomic(module: nn.Module) -> bool:
    """A module whose inside is implementation, not flow: no children, or one of torch.nn's layers."""
    if isinstance(module, _CONTAINERS):
        return False
    if not any(True for _ in module.children()):
        return True
    return type(module).__module__.startswith("torch.nn.")


def _op_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or str(func)
    stripped = name.strip("_")
    return _OP_ALIASES.get(stripped, stripped)


def _tensors(tree: Any) -> list[torch.Tensor]:
    leaves, _ = tree_flatten(tree)
    return [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]


class _Tracer:
    """Holds the node list and knows which node produced every live tensor."""

    def __init__(self, module_names: Mapping[int, str], param_names: Mapping[int, str]) -> None:
        self.module_names = module_names
        self.param_names = dict(param_names)
        self.nodes: list[TraceNode] = []
        self.stack: list[TraceNode] = []
        self.producer: dict[int, int] = {}
        self.param_derived: dict[int, list[str]] = {}
        self.keep_alive: list[Any] = []
        self.busy = False

    # --- bookkeeping -------------------------------------------------------------------------
    def new_node(self, **fields: Any) -> TraceNode:
        parent = self.stack[-1] if self.stack else None
        node = TraceNode(
            id=len(self.nodes),
            parent=parent.id if parent else None,
            depth=len(self.stack),
            **fields,
        )
        self.nodes.append(node)
        if parent is not None:
            parent.children.append(node.id)
        return node

    def mark_produced(self, tensors: list[torch.Tensor], node_id: int) -> None:
        for tensor in tensors:
            self.producer[id(tensor)] = node_id
            self.param_derived.pop(id(tensor), None)
            self.keep_alive.append(tensor)

    def origins(self, tensors: list[torch.Tensor]) -> tuple[list[int | None], list[str]]:
        """Producer of each tensor (None if none) and the parameter/buffer names among them."""
        sources: list[int | None] = []
        uses: list[str] = []
        for tensor in tensors:
            key = id(tensor)
            if key in self.producer:
                sources.append(self.producer[key])
                continue
            sources.append(None)
            for name in (
                [self.param_names[key]] if key in self.param_names else self.param_derived.get(key, [])
            ):
                if name not in uses:
                    uses.append(name)
        return sources, uses

    # --- module hooks ------------------------------------------------------------------------
    def before_module(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.busy = True
        try:
            tensors = _tensors((args, kwargs))
            sources, uses = self.origins(tensors)
            own = sum(p.numel() for p in module.parameters(recurse=False))
            total = sum(p.numel() for p in module.parameters())
            node = self.new_node(
                kind="module",
                name=self.module_names.get(id(module), ""),
                type=type(module).__name__,
                inputs=[TensorMeta.of(t) for t in tensors],
                input_sources=sources,
                own_params=int(own),
                total_params=int(total),
                uses=uses,
                atomic=_is_atomic(module),
            )
            self.stack.append(node)
        finally:
            self.busy = False

    def after_module(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        self.busy = True
        try:
            node = self.stack.pop()
            tensors = _tensors(output)
            node.outputs = [TensorMeta.of(t) for t in tensors]
            self.mark_produced(tensors, node.id)
        finally:
            self.busy = False

    # --- functional steps --------------------------------------------------------------------
    def on_function(self, func: Any, args: tuple, kwargs: dict, result: Any) -> None:
        if self.busy or not self.stack or self.stack[-1].atomic:
            return
        outputs = _tensors(result)
        if not outputs:
            return
        inputs = _tensors((args, kwargs))
        sources, uses = self.origins(inputs)
        tracked = [(t, s) for t, s in zip(inputs, sources, strict=True) if s is not None]
        if not tracked:
            if uses:  # computed from parameters only (e.g. exp(self.log_scale)): remember whose
                for tensor in outputs:
                    self.param_derived[id(tensor)] = list(uses)
                    self.keep_alive.append(tensor)
            return
        op = _op_name(func)
        first_shape = tuple(tracked[0][0].shape)
        distinct = {s for _, s in tracked}
        reshaped = any(tuple(t.shape) != first_shape for t in outputs)
        if op in _ALWAYS_RECORDED or len(distinct) + len(uses) >= 2 or reshaped:
            kept = [
                (t, s)
                for t, s in zip(inputs, sources, strict=True)
                if s is not None or id(t) in self.param_names or id(t) in self.param_derived
            ]
            node = self.new_node(
                kind="function",
                name=op,
                type=op,
                inputs=[TensorMeta.of(t) for t, _ in kept],
                input_sources=[s for _, s in kept],
                uses=uses,
                atomic=True,
            )
            node.outputs = [TensorMeta.of(t) for t in outputs]
            self.mark_produced(outputs, node.id)
        else:  # same data, same shape: the step is not part of the flow's structure
            self.mark_produced(outputs, tracked[0][1])


class _FunctionRecorder(TorchFunctionMode):
    """Forwards every torch function call and shows its result to the tracer."""

    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch protocol
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        self.tracer.on_function(func, args, kwargs, result)
        return result


def _fake_state(model: nn.Module, fake_mode: Any) -> tuple[dict[str, torch.Tensor], dict[int, str]]:
    """Fake copies (shape and dtype only) of every parameter and buffer, with their qualified names."""
    state: dict[str, torch.Tensor] = {}
    names: dict[int, str] = {}
    by_original: dict[int, torch.Tensor] = {}
    named = list(model.named_parameters(remove_duplicate=False)) + list(
        model.named_buffers(remove_duplicate=False)
    )
    with fake_mode:
        for name, tensor in named:
            fake = by_original.get(id(tensor))
            if fake is None:
                fake = torch.empty(tuple(tensor.shape), dtype=tensor.dtype)
                by_original[id(tensor)] = fake
                names[id(fake)] = name
            state[name] = fake
    return state, names


def trace_flow(model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> FlowGraph:
    """Run ``model(**inputs)`` on fake tensors and record its data flow.

    ``model`` may hold real, meta or fake tensors and ``inputs`` real or fake ones: only shapes and
    dtypes are used, so no memory is allocated for activations or weights. Raises whatever the
    model's forward raises for inputs of the wrong shape.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    fake_mode = FakeTensorMode()
    state, param_names = _fake_state(model, fake_mode)
    module_names: dict[int, str] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        module_names.setdefault(id(module), name)
    tracer = _Tracer(module_names, param_names)

    with fake_mode:
        fake_inputs = {
            name: torch.empty(tuple(t.shape), dtype=t.dtype) if isinstance(t, torch.Tensor) else t
            for name, t in inputs.items()
        }
    tensor_inputs = {name: t for name, t in fake_inputs.items() if isinstance(t, torch.Tensor)}
    root_model_name = type(model).__name__
    tracer.stack.append(TraceNode(id=0, kind="module", name="", type=root_model_name, parent=None, depth=0))
    tracer.nodes.append(tracer.stack[0])
    root = tracer.stack[0]
    for name, tensor in tensor_inputs.items():
        node = tracer.new_node(kind="input", name=name, type="input", outputs=[TensorMeta.of(tensor)])
        tracer.mark_produced([tensor], node.id)
    root.inputs = [TensorMeta.of(t) for t in tensor_inputs.values()]
    root.input_sources = [tracer.producer[id(t)] for t in tensor_inputs.values()]
    root.own_params = int(sum(p.numel() for p in model.parameters(recurse=False)))
    root.total_params = int(sum(p.numel() for p in model.parameters()))
    root.atomic = _is_atomic(model)

    handles = []
    for module in model.modules():
        if module is model:
            continue
        handles.append(module.register_forward_pre_hook(tracer.before_module, with_kwargs=True))
        handles.append(module.register_forward_hook(tracer.after_module, with_kwargs=True))
    try:
        with fake_mode, torch.no_grad(), _FunctionRecorder(tracer):
            output = torch.func.functional_call(model, state, args=(), kwargs=fake_inputs, strict=False)
    except Exception as exc:  # the model's own code failed: say where, keep the cause chained
        where = tracer.stack[-1].name if len(tracer.stack) > 1 else "forward"
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise FlowTraceError(
            f"the forward pass of {type(model).__name__} could not run on fake tensors "
            f"(in {where}): {type(exc).__name__}: {first_line}"
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
    out_tensors = _tensors(output)
    root.outputs = [TensorMeta.of(t) for t in out_tensors]
    output_sources = [tracer.producer.get(id(t)) for t in out_tensors]
    return FlowGraph(
        model_class=root_model_name,
        nodes=tracer.nodes,
        input_ids={name: tracer.producer[id(t)] for name, t in tensor_inputs.items()},
        output_sources=output_sources,
        outputs=root.outputs,
        total_params=root.total_params,
        buffer_names=frozenset(name for name, _ in model.named_buffers(remove_duplicate=False)),
    )
