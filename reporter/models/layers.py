"""Small layers shared by several GENESIS architectures (same attribute names as GENESIS)."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """GENESIS's sinusoidal timestep embedding (B,) -> (B, dim): [sin | cos], zero-padded for odd dim.

    Same in pmt_dit.py, pmt_c_dit.py and architectures.py (reference §6): sin half first, frequencies
    exp(-ln(max_period) * i / half), all zeros when dim < 2.
    """
    half = dim // 2
    if half == 0:
        return torch.zeros(t.shape[0], dim, device=t.device)
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    args = t.to(torch.float32)[:, None] * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    if dim % 2:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


def trunc_normal_init_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    """Truncated normal (±2 std) by inverse CDF, with no value-dependent checks.

    torch.nn.init.trunc_normal_ inspects values (`mask.any()`), which fails under FakeTensorMode.
    On the meta device there are no values to fill, and `erfinv_` there would import torch._dynamo
    (about 2 s), so it is skipped.
    """
    if tensor.is_meta:
        return tensor
    low, high = (1.0 + math.erf(-2.0 / math.sqrt(2.0))) / 2.0, (1.0 + math.erf(2.0 / math.sqrt(2.0))) / 2.0
    with torch.no_grad():
        tensor.uniform_(2 * low - 1, 2 * high - 1)
        tensor.erfinv_()
        tensor.mul_(std * math.sqrt(2.0))
        tensor.clamp_(min=-2 * std, max=2 * std)
    return tensor


class AdaLNZero(nn.Module):
    """LayerNorm without affine (attribute `ln`, as GENESIS), modulated by scale/shift from the condition."""

    def __init__(self, cond_dim: int, hidden: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(hidden, elementwise_affine=False)
        self.to_scale = nn.Linear(cond_dim, hidden)
        self.to_shift = nn.Linear(cond_dim, hidden)
        for layer in (self.to_scale, self.to_shift):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, L, H), cond (B, C) -> (B, L, H)."""
        h = self.ln(x)
        scale = self.to_scale(cond)[:, None, :]
        shift = self.to_shift(cond)[:, None, :]
        return h * (1 + scale) + shift


class FiLM(nn.Module):
    """Feature-wise modulation x·(1+γ(c)) + β(c) with γ, β = Linear(cond_dim, channels), zero-initialised.

    `channel_dim` says where the feature axis of x is (1 for (B, H, L) conv maps, -1 for tokens);
    γ and β are reshaped to broadcast along every other axis. GENESIS always unsqueezes them at -1, which
    is the same for (B, H, L) maps and for (N, H) rows where γ already has x's shape; for (B, L, H)
    tokens it only broadcasts when L == H (see the PMTMLP and Era-A FiLM notes).
    """

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Linear(cond_dim, channels)
        self.beta = nn.Linear(cond_dim, channels)
        for layer in (self.gamma, self.beta):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
        gamma, beta = self.gamma(cond), self.beta(cond)
        shape = [gamma.shape[0]] + [1] * (x.dim() - 1)
        shape[channel_dim] = gamma.shape[-1]
        return x * (1 + gamma.reshape(shape)) + beta.reshape(shape)


def register_affine_buffers(
    module: nn.Module,
    affine_offsets: tuple[float, ...],
    affine_scales: tuple[float, ...],
    label_offsets: tuple[float, ...] | None = None,
    label_scales: tuple[float, ...] | None = None,
    signal_shape: tuple[int, ...] = (5, 1),
    label_shape: tuple[int, ...] = (6,),
) -> None:
    """Register the normalization buffers GENESIS keeps in the state_dict (names and shapes of §2)."""
    module.register_buffer(
        "affine_offset", torch.tensor(affine_offsets, dtype=torch.float32).reshape(signal_shape)
    )
    module.register_buffer(
        "affine_scale", torch.tensor(affine_scales, dtype=torch.float32).reshape(signal_shape)
    )
    if label_offsets is not None and label_scales is not None:
        module.register_buffer(
            "label_offset", torch.tensor(label_offsets, dtype=torch.float32).reshape(label_shape)
        )
        module.register_buffer(
            "label_scale", torch.tensor(label_scales, dtype=torch.float32).reshape(label_shape)
        )
