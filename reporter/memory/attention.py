"""Which scaled-dot-product-attention kernel a target would use, and making the fake run use it.

The kernel decides the memory of attention: the fused kernels (flash, memory-efficient, cuDNN) keep
O(L) memory, the math path materialises B·heads·L² scores. On the CPU target torch's own choice is
observed. For a CUDA target the fake step still runs on the CPU, so every SDPA call is intercepted,
CUDA's rules (read from torch's ``sdp_utils.cpp``) pick the kernel, and the call is replayed with the
CPU kernel whose saved tensors have the same sizes (fused → CPU flash; math → the math formula in
CUDA's order, in the autocast dtype).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

from reporter.memory.targets import TargetProfile

HALF_DTYPES = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class AttentionCall:
    """What decides the kernel for one SDPA call."""

    dtype: torch.dtype
    head_dim: int
    dropout: bool
    has_mask: bool
    seq_len: int


@dataclass(frozen=True)
class AttentionChoice:
    kernel: str  # "flash", "memory-efficient", "math", "flash (CPU)"
    reason: str


def choose_cuda_kernel(call: AttentionCall, compute_capability: tuple[int, int]) -> AttentionChoice:
    """Torch's CUDA priority: flash, then memory-efficient, then math (cuDNN, when chosen, has flash's
    memory profile)."""
    sm = compute_capability[0] * 10 + compute_capability[1]
    dtype_name = str(call.dtype).replace("torch.", "")
    refusals = []
    if call.dtype not in HALF_DTYPES:
        refusals.append(f"flash needs fp16/bf16 (got {dtype_name})")
    elif sm < 80:
        refusals.append(f"flash needs sm80+ (target is sm{sm})")
    elif call.head_dim > 256:
        refusals.append(f"flash needs head_dim ≤ 256 (got {call.head_dim})")
    elif call.has_mask:
        refusals.append("flash does not take an attention mask")
    elif call.dtype == torch.bfloat16 and sm < 80:
        refusals.append("bf16 needs sm80+")
    else:
        return AttentionChoice("flash", f"{dtype_name}, head_dim {call.head_dim} ≤ 256, sm{sm}, no mask")
    align = 8 if call.dtype in HALF_DTYPES else 4
    if sm < 50:
        refusals.append(f"memory-efficient needs sm50+ (target is sm{sm})")
    elif call.dtype == torch.bfloat16 and sm < 80:
        refusals.append(f"memory-efficient in bf16 needs sm80+ (target is sm{sm})")
    elif call.head_dim % align != 0:
        refusals.append(
            f"memory-efficient needs head_dim divisible by {align} in {dtype_name} (got {call.head_dim})"
        )
    else:
        return AttentionChoice(
            "memory-efficient",
            "; ".join(refusals) + f"; {dtype_name}, head_dim {call.head_dim} divisible by {align}",
        )
    return AttentionChoice("math", "; ".join(refusals) + " ⇒ math materialises B·heads·L² scores")


def describe_cpu_kernel(call: AttentionCall, used_flash: bool) -> AttentionChoice:
    """Explain the kernel torch picked on the CPU (observed in the trace, not assumed)."""
    if used_flash:
        return AttentionChoice("flash (CPU)", "observed: torch's fused CPU flash kernel, O(L) memory")
    if call.dropout:
        return AttentionChoice(
            "math",
            "observed: attention dropout > 0 disables the CPU flash kernel "
            "⇒ math materialises B·heads·L² scores",
        )
    return AttentionChoice("math", "observed: torch's math path ⇒ B·heads·L² scores")


def math_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """The math kernel as CUDA runs it (scaled q·kᵀ, softmax, dropout, ·v), all in the input dtype."""
    scale_factor = scale if scale is not None else 1.0 / math.sqrt(q.size(-1))
    root = math.sqrt(scale_factor)
    scores = (q * root) @ (k.transpose(-2, -1) * root)
    if is_causal:
        causal = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    # torch >= 2.5 runs the math kernel's softmax as _safe_softmax (fully masked rows give 0, not NaN),
    # which holds a zeros tensor and a row mask beside the result.
    safe_softmax = getattr(torch.ops.aten, "_safe_softmax", None)
    weights = safe_softmax.default(scores, -1) if safe_softmax is not None else torch.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)
    return weights @ v


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _reserve_flash_backward_workspace(q: torch.Tensor, out: torch.Tensor) -> None:
    """Hold the fp32 buffers CUDA's flash-attention backward allocates while it runs.

    FlashAttention-2's backward keeps dq_accum (B, L rounded to 128, heads, head_dim rounded to 32, or 64
    above 128) and softmax_d (B, heads, L rounded to 128), both float32. The CPU kernel has no such
    buffers, so they are allocated when the output's gradient arrives and released once q's gradient
    exists. Measured on an H200: the default PMTDit (head_dim 2, padded to 8, rounded to 32) peaks in
    backward by about this much (348 MB at batch 64).
    """
    batch, heads, length, dim = q.shape
    rows = _round_up(length, 128)
    cols = _round_up(dim, 32 if dim <= 128 else 64)
    held: list[torch.Tensor] = []

    def allocate(grad: torch.Tensor) -> None:
        held.append(torch.empty(batch, rows, heads, cols, dtype=torch.float32))
        held.append(torch.empty(batch, heads, rows, dtype=torch.float32))

    def release(grad: torch.Tensor) -> None:
        held.clear()

    out.register_hook(allocate)
    q.register_hook(release)


def cuda_dropout(input, p=0.5, training=True, inplace=False):
    """Dropout as CUDA runs it: the fused kernel keeps a 1-byte bool mask for backward, whereas the CPU
    composite keeps a float noise tensor of the input's size (4 bytes per element in fp32)."""
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return torch.zeros_like(input)
    return torch.native_dropout(input, p, True)[0]


@dataclass
class AttentionRecorder:
    """Intercepts SDPA calls during a trace; records the kernel chosen for each distinct call shape."""

    target: TargetProfile
    choices: dict[AttentionCall, AttentionChoice] = field(default_factory=dict)
    flash_seen: bool = False  # set by the tracker when the CPU flash op runs

    def _call_of(self, q, k, dropout_p, attn_mask) -> AttentionCall:
        dtype = q.dtype
        if torch.is_autocast_enabled("cpu") and dtype.is_floating_point:
            dtype = torch.get_autocast_dtype("cpu")
        return AttentionCall(
            dtype=dtype,
            head_dim=int(q.shape[-1]),
            dropout=float(dropout_p) > 0.0,
            has_mask=attn_mask is not None,
            seq_len=int(k.shape[-2]),
        )

    def sdpa(self, original, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **kw):
        call = self._call_of(q, k, dropout_p, attn_mask)
        if not self.target.is_cuda:
            self.flash_seen = False
            out = original(
                q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale, **kw
            )
            self.choices.setdefault(call, describe_cpu_kernel(call, self.flash_seen))
            return out
        choice = choose_cuda_kernel(call, self.target.compute_capability or (8, 0))
        self.choices.setdefault(call, choice)
        if choice.kernel == "math":
            dtype = call.dtype
            with torch.autocast("cpu", enabled=False):
                return math_attention(
                    q.to(dtype), k.to(dtype), v.to(dtype), attn_mask, float(dropout_p), is_causal, scale
                )
        # Fused CUDA kernels do not store a dropout mask (they regenerate it from the RNG seed), so the
        # CPU flash kernel without dropout has the same saved tensors. CUDA's flash path first pads
        # head_dim to a multiple of 8 and keeps the padded q, k, v and output for backward (measured on
        # an H200: without the padding the default PMTDit, head_dim 2, was under-predicted by 45%).
        og = q.shape[-1]
        pad = (-og) % 8 if choice.kernel == "flash" else 0
        if pad:
            scale = scale if scale is not None else 1.0 / math.sqrt(og)
            q, k, v = (F.pad(t, (0, pad)) for t in (q, k, v))
        try:
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                out = original(
                    q, k, v, attn_mask=attn_mask, dropout_p=0.0, is_causal=is_causal, scale=scale, **kw
                )
        except RuntimeError:
            out = original(
                q, k, v, attn_mask=attn_mask, dropout_p=0.0, is_causal=is_causal, scale=scale, **kw
            )
        if choice.kernel == "flash" and out.requires_grad:
            _reserve_flash_backward_workspace(q, out)
        return out[..., :og] if pad else out

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Route ``F.scaled_dot_product_attention`` (used by ``nn.MultiheadAttention``) through ``sdpa``."""
        original = F.scaled_dot_product_attention

        def routed(query: Tensor, key: Tensor, value: Tensor, *args: Any, **kwargs: Any) -> Tensor:
            names = ("attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")  # its positional order
            kwargs.update(dict(zip(names, args, strict=False)))
            return self.sdpa(original, query, key, value, **kwargs)

        from reporter.memory.cuda_autocast import CudaAutocastPolicy

        original_dropout = F.dropout
        F.scaled_dot_product_attention = routed
        policy = CudaAutocastPolicy() if self.target.is_cuda else contextlib.nullcontext()
        if self.target.is_cuda:
            F.dropout = cuda_dropout
        try:
            with policy:
                yield
        finally:
            F.scaled_dot_product_attention = original
            F.dropout = original_dropout

    def summary(self) -> list[tuple[AttentionCall, AttentionChoice]]:
        return list(self.choices.items())
