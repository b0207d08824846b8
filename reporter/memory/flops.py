"""FLOPs of the forward pass and of the full training step, total and per top-level module.

Counted with torch's ``FlopCounterMode`` on the same fake step the memory prediction traces. It counts
matrix products, convolutions and attention kernels (2 FLOPs per multiply-add); everything else —
elementwise ops, normalisation, softmax outside fused attention, reductions, the optimizer update — is
not counted, and the ops seen but not counted are listed.

Per-module figures are for the forward pass only: torch's module tracker attributes backward FLOPs to a
module until the gradient of its inputs arrives, which never happens for modules whose inputs need no
gradient (``t_mlp`` on the integer timestep), so its backward split over-counted the default model 1.7×.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode, flop_registry, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten

# Ops that move or allocate data but compute nothing: not worth listing as "not counted".
_NO_COMPUTE = {
    "aten.view",
    "aten._unsafe_view",
    "aten.t",
    "aten.transpose",
    "aten.permute",
    "aten.expand",
    "aten.detach",
    "aten.alias",
    "aten.slice",
    "aten.select",
    "aten.unsqueeze",
    "aten.squeeze",
    "aten.as_strided",
    "aten.empty",
    "aten.empty_like",
    "aten.empty_strided",
    "aten.zeros",
    "aten.zeros_like",
    "aten.ones",
    "aten.ones_like",
    "aten.new_empty",
    "aten.new_zeros",
    "aten.clone",
    "aten._to_copy",
    "aten.copy_",
    "aten.reshape",
    "aten.split",
    "aten.split_with_sizes",
    "aten.unbind",
    "aten.chunk",
    "aten.contiguous",
    "aten.lift_fresh",
    "aten.full",
    "aten.full_like",
    "aten.new_empty_strided",
    "aten.fill_",
    "aten.zero_",
    "aten.randn",
    "aten.randn_like",
    "aten.rand",
    "aten.rand_like",
    "aten.normal_",
    "aten.uniform_",
    "aten.randint",
    "aten.bernoulli_",
    "aten.set_",
    "aten.cat",
    "aten.stack",
    "aten.unflatten",
    "aten.flatten",
    "aten.view_as",
    "aten.new_ones",
    "aten.arange",
    "aten._local_scalar_dense",
    "aten.lift_fresh_copy",
    "aten.scalar_tensor",
    "aten.empty_permuted",
}


def _cpu_flash(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_flash_backward(
    grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kw
) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


#: torch's counter has no formula for the CPU flash kernel; it is the same computation as CUDA flash.
CUSTOM_FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_flash_backward,
}


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one step at one batch size (2 per multiply-add)."""

    forward_total: int
    training_total: int  # forward + backward (the optimizer update is not counted)
    forward_by_module: dict[str, int] = field(default_factory=dict)
    not_counted_ops: list[str] = field(default_factory=list)


def _top_level(counts: dict[str, dict]) -> dict[str, int]:
    """FLOPs per top-level child module (``Root.child``), summed over ops.

    A child that is never called itself (an ``nn.ModuleList`` of blocks) is the sum of its shallowest called
    descendants; FLOPs of the root's own code outside any child are listed as ``(root)``.
    """
    totals = {name: int(sum(per_op.values())) for name, per_op in counts.items()}
    roots = [n for n in totals if "." not in n and n != "Global"]
    out: dict[str, int] = {}
    for name, flops in totals.items():
        if "." not in name:
            continue
        parent = name.rsplit(".", 1)[0]
        if "." in parent and parent in totals:
            continue  # a called ancestor below the root already holds these FLOPs
        top = name.split(".")[1]
        out[top] = out.get(top, 0) + flops
    for root in roots:
        rest = totals[root] - sum(out.values())
        if rest > 0:
            out["(root)"] = rest
    return out


class FlopRecorder:
    """Counts a step's FLOPs, snapshotting the forward part when the backward phase starts."""

    def __init__(self) -> None:
        self.counter = FlopCounterMode(display=False, custom_mapping=CUSTOM_FORMULAS)
        self._forward_total = 0
        self._forward_by_module: dict[str, int] = {}
        self._forward_taken = False

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        with self.counter:
            yield

    def phase(self, name: str) -> None:
        if name != "forward" and not self._forward_taken:
            self._forward_taken = True
            self._forward_total = int(self.counter.get_total_flops())
            self._forward_by_module = _top_level(self.counter.get_flop_counts())

    def result(self, ops_seen: set[str]) -> FlopCount:
        counted = {str(op) for op in flop_registry} | {str(op) for op in CUSTOM_FORMULAS}
        counted |= {str(getattr(op, "overloadpacket", op)) for op in CUSTOM_FORMULAS}
        not_counted = sorted(
            op for op in ops_seen if op not in counted and op not in _NO_COMPUTE and op.startswith("aten.")
        )
        return FlopCount(
            forward_total=self._forward_total,
            training_total=int(self.counter.get_total_flops()),
            forward_by_module=self._forward_by_module,
            not_counted_ops=not_counted,
        )
