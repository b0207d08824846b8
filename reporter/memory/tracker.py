"""Counting live storage bytes of a (fake) training step and categorising them at the peak.

Every op's outputs pass through :class:`StorageTracker`; a storage is added on first sight and
subtracted when its Python object dies (weakref finalizer). Views share their base's storage, so they
cost nothing, as on a real device. The category breakdown is snapshotted lazily — at the first free
after a new peak, while the peak's live set is still intact — which keeps the cost linear.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from reporter.memory.categories import MEMORY_CATEGORIES as CATEGORIES

_FIXED = ("parameters", "buffers", "optimizer_state", "inputs")
CPU_FLASH_OPS = ("_scaled_dot_product_flash_attention_for_cpu",)


class StorageTracker(TorchDispatchMode):
    """Dispatch mode that keeps the total of live storage bytes and the breakdown at its peak."""

    def __init__(
        self,
        round_allocation: Callable[[int], int] = lambda n: n,
        hidden_bytes: Callable[..., int] | None = None,
    ) -> None:
        super().__init__()
        self._round = round_allocation
        # bytes a kernel holds inside one op beyond its outputs (reporter.memory.cpu_scratch), or None
        self.hidden_bytes = hidden_bytes
        self._hidden_key = 0
        self.live: dict[int, int] = {}
        self.fixed_tag: dict[int, str] = {}
        self.saved: set[int] = set()
        self.grads: set[int] = set()
        self.total = 0
        self.peak = 0
        self.peak_phase = "forward"
        self.peak_breakdown: dict[str, int] = {}
        self.phase = "forward"
        self.phase_peaks: dict[str, int] = {}
        self._pending = False
        self.ops_seen: set[str] = set()
        self.on_flash: Callable[[], None] | None = None

    # -- bookkeeping -------------------------------------------------------------------------------
    def track(self, tensor: torch.Tensor, category: str | None = None) -> None:
        """Count ``tensor``'s storage (once) and optionally give it a fixed category."""
        try:
            storage = tensor.untyped_storage()
        except (RuntimeError, NotImplementedError):  # sparse/nested layouts have no single storage
            return
        key = id(storage)
        if key not in self.live:
            self._add(key, self._round(storage.nbytes()))
            weakref.finalize(storage, self._free, key)
        if category is not None:
            self.fixed_tag[key] = category

    def hold_transient(self, nbytes: int) -> None:
        """Count ``nbytes`` that live only while the current op runs (on top of its outputs), then drop
        them: they can make the peak, where they are temporaries."""
        if nbytes <= 0:
            return
        self._hidden_key -= 1  # negative keys never collide with id() of a storage
        self._add(self._hidden_key, self._round(nbytes))
        self._free(self._hidden_key)

    def _add(self, key: int, nbytes: int) -> None:
        self.live[key] = nbytes
        self.total += nbytes
        if self.total > self.phase_peaks.get(self.phase, 0):
            self.phase_peaks[self.phase] = self.total
        if self.total > self.peak:
            self.peak = self.total
            self.peak_phase = self.phase
            self._pending = True

    def untrack(self, tensor: torch.Tensor) -> None:
        """Stop counting a storage that does not live on the target device (e.g. AdamW's CPU step)."""
        key = id(tensor.untyped_storage())
        self.total -= self.live.pop(key, 0)
        self.fixed_tag.pop(key, None)

    def _free(self, key: int) -> None:
        if self._pending:
            self._snapshot()
        self.total -= self.live.pop(key, 0)
        self.fixed_tag.pop(key, None)
        self.saved.discard(key)
        self.grads.discard(key)

    def _snapshot(self) -> None:
        self._pending = False
        breakdown = dict.fromkeys(CATEGORIES, 0)
        for key, nbytes in self.live.items():
            tag = self.fixed_tag.get(key)
            if tag is None:
                if key in self.grads:
                    tag = "gradients"
                elif key in self.saved:
                    tag = "saved_activations"
                else:
                    tag = "temporaries"
            breakdown[tag] += nbytes
        self.peak_breakdown = breakdown

    def finish(self) -> None:
        """Take the pending snapshot, if the last peak was never followed by a free."""
        if self._pending:
            self._snapshot()

    def reset_peak(self) -> None:
        """Start a new measurement from the current live set (e.g. for the steady-state step); the ops
        seen are this measurement's from here on."""
        self.finish()
        self.ops_seen = set()
        self.phase_peaks = {}
        self.peak = self.total
        self.peak_phase = self.phase
        self._pending = True
        self._snapshot()

    def mark_saved(self, tensor: torch.Tensor) -> None:
        self.saved.add(id(tensor.untyped_storage()))

    def mark_grad(self, tensor: torch.Tensor) -> None:
        self.grads.add(id(tensor.untyped_storage()))

    def live_bytes(self, category: str) -> int:
        return sum(self.live.get(k, 0) for k, tag in self.fixed_tag.items() if tag == category)

    # -- dispatch ----------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        packet, flash = _op_facts(func)
        self.ops_seen.add(packet)
        if flash and self.on_flash is not None:
            self.on_flash()
        if isinstance(out, torch.Tensor):  # most ops: one tensor, no pytree walk (a trace runs ~10k ops)
            self.track(out)
        else:
            for leaf in tree_flatten(out)[0]:
                if isinstance(leaf, torch.Tensor):
                    self.track(leaf)
        if self.hidden_bytes is not None:
            self.hold_transient(self.hidden_bytes(func, args, out))
        return out


_OP_FACTS: dict[object, tuple[str, bool]] = {}


def _op_facts(func) -> tuple[str, bool]:
    """(the op's name as `ops_seen` lists it, whether it is a CPU flash-attention kernel), once per op."""
    facts = _OP_FACTS.get(func)
    if facts is None:
        name = func.__name__ if hasattr(func, "__name__") else str(func)
        packet = str(func.overloadpacket) if hasattr(func, "overloadpacket") else name
        facts = _OP_FACTS[func] = (packet, any(op in name for op in CPU_FLASH_OPS))
    return facts
