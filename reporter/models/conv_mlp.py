"""PMTCNN, PMTResNet, PMTHybrid and PMTMLP (models/architectures.py, reference §2.3).

All four concatenate signal and geometry to (B, 5, L), apply `(x + offset) * scale` in forward with the
(5, 1) buffers, condition on t_mlp(sinusoid(t)) + y_mlp(label) (width H, labels not normalized) and
return (B, 2, L). Key names, shapes, parameter counts, module names and the order of operations inside
each block are GENESIS's (reference §2.3, §6); the only difference is FiLM's broadcasting in PMTMLP
(see `reporter.models.builtin.mlp_notes`).
"""

from __future__ import annotations

import torch
from torch import nn

from reporter.models.layers import AdaLNZero, FiLM, register_affine_buffers, sinusoidal_embedding


class _ConditionedBase(nn.Module):
    """Shared input affine, conditioning MLPs and forward skeleton of the four architectures."""

    affine_offset: torch.Tensor  # buffers (register_affine_buffers)
    affine_scale: torch.Tensor

    def __init__(
        self,
        seq_len: int,
        hidden: int,
        label_dim: int,
        t_embed_dim: int,
        affine_offsets: tuple[float, ...],
        affine_scales: tuple[float, ...],
    ) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.hidden = hidden
        self.t_embed_dim = t_embed_dim
        register_affine_buffers(self, affine_offsets, affine_scales)

    def _make_cond_mlps(self, hidden: int, label_dim: int, t_embed_dim: int) -> None:
        self.t_mlp = nn.Sequential(nn.Linear(t_embed_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.y_mlp = nn.Sequential(nn.Linear(label_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def _prepare(
        self, x_sig_t: torch.Tensor, geom: torch.Tensor, t: torch.Tensor, label: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, channels, length = x_sig_t.shape
        assert channels == 2 and length == self.seq_len, "x_sig_t must be (B, 2, seq_len)"
        assert tuple(geom.shape) == (batch, 3, length), "geom must be (B, 3, seq_len)"
        x5 = (torch.cat([x_sig_t, geom], dim=1) + self.affine_offset) * self.affine_scale
        cond = self.t_mlp(sinusoidal_embedding(t, self.t_embed_dim)) + self.y_mlp(label)
        return x5, cond


class ConvBlock(nn.Module):
    """GENESIS ConvBlock: conv1 → norm1 → GELU → dropout → conv2 → norm2 → FiLM → GELU → dropout, + input.

    Attribute names and order are GENESIS's (`dropout`, `activation` hold no parameters, reference §6).
    """

    def __init__(self, hidden: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.conv1 = nn.Conv1d(hidden, hidden, kernel_size, padding=padding)
        self.conv2 = nn.Conv1d(hidden, hidden, kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm1d(hidden)
        self.norm2 = nn.BatchNorm1d(hidden)
        self.film = FiLM(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, H, L), cond (B, H)."""
        h = self.dropout(self.activation(self.norm1(self.conv1(x))))
        h = self.film(self.norm2(self.conv2(h)), cond, channel_dim=1)
        return self.dropout(self.activation(h)) + x


class ResNetBlock(ConvBlock):
    """PMTResNet's block: GENESIS's own class with ConvBlock's attributes, forward and residual."""


class PMTCNN(_ConditionedBase):
    """Convolutional denoiser; block i uses kernel_sizes[i % len(kernel_sizes)]."""

    block_class: type[ConvBlock] = ConvBlock

    def __init__(
        self,
        seq_len: int = 5160,
        hidden: int = 512,
        depth: int = 8,
        dropout: float = 0.1,
        label_dim: int = 6,
        t_embed_dim: int = 128,
        kernel_sizes: tuple[int, ...] = (3, 5, 7, 9),
        affine_offsets: tuple[float, ...] = (0.0,) * 5,
        affine_scales: tuple[float, ...] = (1.0,) * 5,
    ) -> None:
        super().__init__(seq_len, hidden, label_dim, t_embed_dim, affine_offsets, affine_scales)
        self.input_proj = nn.Conv1d(5, hidden, 1)
        self.blocks = nn.ModuleList(
            self.block_class(hidden, kernel_sizes[i % len(kernel_sizes)], dropout) for i in range(depth)
        )
        self._make_cond_mlps(hidden, label_dim, t_embed_dim)
        self.output_proj = nn.Conv1d(hidden, 2, 1)

    def forward(
        self, x_sig_t: torch.Tensor, geom: torch.Tensor, t: torch.Tensor, label: torch.Tensor
    ) -> torch.Tensor:
        x5, cond = self._prepare(x_sig_t, geom, t, label)
        h = self.input_proj(x5)
        for block in self.blocks:
            h = block(h, cond)
        return self.output_proj(h)


class PMTResNet(PMTCNN):
    """Residual convolutional denoiser with one kernel size (indistinguishable from CNN by keys)."""

    block_class = ResNetBlock

    def __init__(
        self,
        seq_len: int = 5160,
        hidden: int = 512,
        depth: int = 8,
        dropout: float = 0.1,
        label_dim: int = 6,
        t_embed_dim: int = 128,
        kernel_size: int = 3,
        affine_offsets: tuple[float, ...] = (0.0,) * 5,
        affine_scales: tuple[float, ...] = (1.0,) * 5,
    ) -> None:
        super().__init__(
            seq_len,
            hidden,
            depth,
            dropout,
            label_dim,
            t_embed_dim,
            (kernel_size,),
            affine_offsets,
            affine_scales,
        )


class HybridBlock(nn.Module):
    """GENESIS HybridBlock: the conv branch's output replaces x (no residual around it), then gated
    adaLN-Zero attention and MLP sub-blocks with residuals over the PMT tokens (reference §6)."""

    def __init__(self, hidden: int, heads: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(hidden, hidden, kernel_size, padding=kernel_size // 2),
            nn.BatchNorm1d(hidden),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.ada_attn = AdaLNZero(hidden, hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.gate_attn = nn.Parameter(torch.zeros(1))
        self.ada_mlp = AdaLNZero(hidden, hidden)
        self.mlp = nn.Sequential(
            nn.Linear(hidden, 4 * hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(4 * hidden, hidden),
            nn.Dropout(dropout),
        )
        self.gate_mlp = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, H, L), cond (B, H) -> (B, H, L)."""
        tokens = self.conv(x).transpose(1, 2)
        h = self.ada_attn(tokens, cond)
        tokens = tokens + self.gate_attn * self.attn(h, h, h, need_weights=False)[0]
        tokens = tokens + self.gate_mlp * self.mlp(self.ada_mlp(tokens, cond))
        return tokens.transpose(1, 2)


class PMTHybrid(_ConditionedBase):
    """Convolution + attention hybrid denoiser."""

    def __init__(
        self,
        seq_len: int = 5160,
        hidden: int = 512,
        depth: int = 8,
        heads: int = 8,
        dropout: float = 0.1,
        label_dim: int = 6,
        t_embed_dim: int = 128,
        kernel_size: int = 3,
        affine_offsets: tuple[float, ...] = (0.0,) * 5,
        affine_scales: tuple[float, ...] = (1.0,) * 5,
    ) -> None:
        super().__init__(seq_len, hidden, label_dim, t_embed_dim, affine_offsets, affine_scales)
        self.input_proj = nn.Conv1d(5, hidden, 1)
        self.blocks = nn.ModuleList(HybridBlock(hidden, heads, kernel_size, dropout) for _ in range(depth))
        self._make_cond_mlps(hidden, label_dim, t_embed_dim)
        self.output_proj = nn.Conv1d(hidden, 2, 1)

    def forward(
        self, x_sig_t: torch.Tensor, geom: torch.Tensor, t: torch.Tensor, label: torch.Tensor
    ) -> torch.Tensor:
        x5, cond = self._prepare(x_sig_t, geom, t, label)
        h = self.input_proj(x5)
        for block in self.blocks:
            h = block(h, cond)
        return self.output_proj(h)


class MLPBlock(nn.Module):
    """GENESIS MLPBlock on (B·L, H) rows: x + FiLM(MLP(LayerNorm(x)), cond)."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(hidden, 4 * hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(4 * hidden, hidden),
            nn.Dropout(dropout),
        )
        self.film = FiLM(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B·L, H), cond (B·L, H): γ/β applied per row (GENESIS's unsqueeze(-1) cannot broadcast)."""
        return self.film(self.mlp(self.norm(x)), cond, channel_dim=-1) + x


class PMTMLP(_ConditionedBase):
    """Per-PMT MLP denoiser over (B·L, H) rows, as GENESIS reshapes it (no interaction between PMTs)."""

    def __init__(
        self,
        seq_len: int = 5160,
        hidden: int = 512,
        depth: int = 8,
        dropout: float = 0.1,
        label_dim: int = 6,
        t_embed_dim: int = 128,
        affine_offsets: tuple[float, ...] = (0.0,) * 5,
        affine_scales: tuple[float, ...] = (1.0,) * 5,
    ) -> None:
        super().__init__(seq_len, hidden, label_dim, t_embed_dim, affine_offsets, affine_scales)
        self.input_proj = nn.Linear(5, hidden)
        self.blocks = nn.ModuleList(MLPBlock(hidden, dropout) for _ in range(depth))
        self._make_cond_mlps(hidden, label_dim, t_embed_dim)
        self.output_proj = nn.Linear(hidden, 2)

    def forward(
        self, x_sig_t: torch.Tensor, geom: torch.Tensor, t: torch.Tensor, label: torch.Tensor
    ) -> torch.Tensor:
        batch, _, length = x_sig_t.shape
        x5, cond = self._prepare(x_sig_t, geom, t, label)
        # GENESIS copies both into row layout: (B, 5, L) -> (B·L, 5) and the condition to (B·L, H).
        h = self.input_proj(x5.transpose(1, 2).reshape(batch * length, 5))
        rows = cond.unsqueeze(1).expand(batch, length, self.hidden).reshape(batch * length, self.hidden)
        for block in self.blocks:
            h = block(h, rows)
        return self.output_proj(h).reshape(batch, length, 2).transpose(1, 2)
