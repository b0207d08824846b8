"""trace_flow: module calls and functional steps recorded on fake tensors."""

from __future__ import annotations

import time

import torch
from torch import nn

from reporter.flow.trace import trace_flow


class _Embed(nn.Module):
    """(B, 3, L) -> (B, L, 8) tokens plus a learned positional embedding, then a residual MLP."""

    def __init__(self, length: int = 10) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 8)
        self.pos = nn.Parameter(torch.zeros(1, length, 8))
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
        self.register_buffer("offset", torch.zeros(3, 1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = x + self.offset
        h = self.proj(x.transpose(1, 2)) + self.pos
        h = h + self.mlp(h)
        return torch.cat([h, cond.unsqueeze(1).expand(-1, h.shape[1], -1)], dim=-1)


def _functions(graph):
    return [n for n in graph.nodes if n.kind == "function"]


def test_module_calls_are_recorded_in_order_with_shapes_and_params():
    graph = trace_flow(_Embed(), {"x": torch.zeros(2, 3, 10), "cond": torch.zeros(2, 4)})
    modules = [(n.name, n.type) for n in graph.nodes if n.kind == "module"][1:]
    assert modules == [
        ("proj", "Linear"),
        ("mlp", "Sequential"),
        ("mlp.0", "Linear"),
        ("mlp.1", "GELU"),
        ("mlp.2", "Linear"),
    ]
    proj = next(n for n in graph.nodes if n.name == "proj")
    assert [m.shape for m in proj.inputs] == [(2, 10, 3)]
    assert [m.shape for m in proj.outputs] == [(2, 10, 8)]
    assert proj.own_params == 3 * 8 + 8
    assert graph.nodes[0].own_params == 80  # pos (1, 10, 8) belongs to the root module
    assert graph.total_params == 32 + 80 + (8 * 16 + 16) + (16 * 8 + 8)
    assert [m.shape for m in graph.outputs] == [(2, 10, 12)]
    assert graph.outputs[0].dtype == "float32"


def test_functional_steps_between_modules_are_observed():
    graph = trace_flow(_Embed(), {"x": torch.zeros(2, 3, 10), "cond": torch.zeros(2, 4)})
    steps = [(n.name, n.uses, [m.shape for m in n.outputs]) for n in _functions(graph)]
    assert ("add", ["offset"], [(2, 3, 10)]) in steps  # add of a buffer
    assert ("transpose", [], [(2, 10, 3)]) in steps
    assert ("add", ["pos"], [(2, 10, 8)]) in steps  # add of the positional embedding
    assert ("unsqueeze", [], [(2, 1, 4)]) in steps
    assert ("expand", [], [(2, 10, 4)]) in steps
    assert ("cat", [], [(2, 10, 12)]) in steps
    residual = [n for n in _functions(graph) if n.name == "add" and not n.uses]
    assert len(residual) == 1 and len(residual[0].sources) == 2  # h + mlp(h): two data paths merge
    # steps inside torch.nn layers are implementation, not flow
    assert not any(n.name in ("linear", "gelu") for n in _functions(graph))


def test_sources_link_each_step_to_its_producers():
    graph = trace_flow(_Embed(), {"x": torch.zeros(2, 3, 10), "cond": torch.zeros(2, 4)})
    cat = next(n for n in _functions(graph) if n.name == "cat")
    producers = [graph.node(s).name for s in cat.sources]
    assert producers == ["add", "expand"]
    assert graph.node(graph.input_ids["x"]).kind == "input"
    assert graph.output_sources == [cat.id]


def test_billion_parameter_model_traces_in_seconds_without_memory():
    with torch.device("meta"):
        model = nn.Sequential(*[nn.Linear(16384, 16384) for _ in range(4)])
    started = time.perf_counter()
    graph = trace_flow(model, {"input": torch.zeros(8, 16384, device="meta")})
    elapsed = time.perf_counter() - started
    assert graph.total_params == 4 * (16384 * 16384 + 16384) > 1_000_000_000
    assert [m.shape for m in graph.outputs] == [(8, 16384)]
    assert elapsed < 10


def test_real_weights_are_not_touched():
    model = _Embed()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trace_flow(model, {"x": torch.ones(2, 3, 10), "cond": torch.ones(2, 4)})
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model._forward_hooks and not model.proj._forward_pre_hooks  # hooks removed


class _ReadsValues(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate(x).sum().item() > 0:  # data-dependent: impossible without real values
            return x
        return -x


def test_a_forward_that_needs_values_fails_with_a_clear_error():
    import pytest

    from reporter.flow.trace import FlowTraceError

    with pytest.raises(FlowTraceError, match="_ReadsValues could not run on fake tensors"):
        trace_flow(_ReadsValues(), {"x": torch.zeros(2, 4)})


def test_non_tensor_inputs_are_passed_through():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 6)

        def forward(self, x: torch.Tensor, repeats: int) -> torch.Tensor:
            return self.proj(x).repeat(1, repeats)

    graph = trace_flow(Scaled(), {"x": torch.zeros(2, 4), "repeats": 3})
    assert list(graph.input_ids) == ["x"]
    assert [m.shape for m in graph.outputs] == [(2, 18)]
