"""PMTDit: the DiT over 5160 PMT tokens (reference §2.1), in every historical GENESIS version.

`layout="pmt_dit"` reproduces models/pmt_dit.py (`mlp.fc1/fc2`, `embedder.label_to_film`);
`layout="era_a"` the older models/architectures.py class (`mlp.0/mlp.3`, `embedder.film.gamma/beta`,
geometry re-added after the blocks, labels normalized in forward). `pos_embedding` adds the learned
positional embedding `pos` (1, seq_len, H) that every version but the latest pmt_dit.py has;
`forward_normalization` applies `(x + offset) * scale` to signal and geometry inside forward (the two
earliest pmt_dit.py versions and Era A); `label_buffers=False` is the earliest pmt_dit.py, which kept only
the affine buffers. `reporter.models.versions` maps GENESIS versions to these switches.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from reporter.models.layers import (
    AdaLNZero,
    FiLM,
    register_affine_buffers,
    sinusoidal_embedding,
    trunc_normal_init_,
)


def _token_net(in_dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Linear → Dropout → ReLU → Linear (state_dict keys .0 and .3)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.Dropout(dropout), nn.ReLU(), nn.Linear(hidden, hidden))


class PMTEmbedding(nn.Module):
    """Embeds signal and geometry per PMT; fuses them by SUM or label-conditioned FiLM."""

    def __init__(self, hidden: int, label_dim: int, dropout: float, fusion: str, layout: str) -> None:
        super().__init__()
        self.fusion = fusion
        self.layout = layout
        self.signal_net = _token_net(2, hidden, dropout)
        self.geom_net = _token_net(3, hidden, dropout)
        if fusion == "FiLM":
            if layout == "era_a":
                self.film = FiLM(label_dim, hidden)
                for layer in (self.film.gamma, self.film.beta):
                    nn.init.zeros_(layer.weight)
                    nn.init.zeros_(layer.bias)
            else:
                self.label_to_film = nn.Sequential(
                    nn.Linear(label_dim, hidden), nn.SiLU(), nn.Linear(hidden, 2 * hidden)
                )
                last = cast(nn.Linear, self.label_to_film[2])
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)

    def forward(
        self, signal: torch.Tensor, geometry: torch.Tensor, label: torch.Tensor
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """signal (B, L, 2), geometry (B, L, 3), label (B, Ld) -> tokens (B, L, H).

        Era A also returns h_geo (B, L, H), which its PMTDit re-adds after the blocks.
        """
        h_sig = self.signal_net(signal)
        h_geo = self.geom_net(geometry)
        if self.fusion != "FiLM":
            tokens = h_sig + h_geo
        elif self.layout == "era_a":
            # GENESIS Era A unsqueezes γ/β at -1, which only broadcasts when L == H; we broadcast over L.
            tokens = self.film(h_sig, label, channel_dim=-1) + h_geo
        else:
            gamma, beta = self.label_to_film(label).chunk(2, dim=-1)
            tokens = h_sig * (1.0 + gamma.unsqueeze(1)) + beta.unsqueeze(1) + h_geo
        return (tokens, h_geo) if self.layout == "era_a" else tokens


class MLP(nn.Module):
    """pmt_dit.py feed-forward: fc1 → GELU → fc2 → Dropout."""

    def __init__(self, hidden: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden, inner)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(inner, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # GENESIS applies the same Dropout twice: after the activation and after fc2.
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def _era_a_mlp(hidden: int, inner: int, dropout: float) -> nn.Sequential:
    """Era A feed-forward as a Sequential (keys .0 and .3)."""
    return nn.Sequential(
        nn.Linear(hidden, inner),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(inner, hidden),
        nn.Dropout(dropout),
    )


class DiTBlock(nn.Module):
    """x += gate_attn·Attn(AdaLN(x, c)); x += gate_mlp·MLP(AdaLN(x, c)); gates zero-initialised."""

    def __init__(
        self, hidden: int, heads: int, cond_dim: int, mlp_ratio: float, dropout: float, layout: str
    ) -> None:
        super().__init__()
        inner = int(hidden * mlp_ratio)
        self.ada_attn = AdaLNZero(cond_dim, hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.gate_attn = nn.Parameter(torch.zeros(1))
        self.ada_mlp = AdaLNZero(cond_dim, hidden)
        self.mlp = _era_a_mlp(hidden, inner, dropout) if layout == "era_a" else MLP(hidden, inner, dropout)
        self.gate_mlp = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.ada_attn(x, cond)
        x = x + self.gate_attn * self.attn(h, h, h, need_weights=False)[0]
        return x + self.gate_mlp * self.mlp(self.ada_mlp(x, cond))


class PMTDit(nn.Module):
    """GENESIS PMTDit; forward(x_sig_t (B,2,L), geom (B,3,L), t (B,), label (B,Ld)) -> ε̂ (B,2,L)."""

    affine_offset: torch.Tensor  # buffers (register_affine_buffers); the label pair only in some versions
    affine_scale: torch.Tensor
    label_offset: torch.Tensor
    label_scale: torch.Tensor

    def __init__(
        self,
        seq_len: int = 5160,
        hidden: int = 512,
        depth: int = 8,
        heads: int = 8,
        dropout: float = 0.1,
        fusion: str = "SUM",
        label_dim: int = 6,
        t_embed_dim: int = 128,
        mlp_ratio: float = 4.0,
        affine_offsets: tuple[float, ...] = (0.0,) * 5,
        affine_scales: tuple[float, ...] = (1.0,) * 5,
        label_offsets: tuple[float, ...] = (0.0,) * 6,
        label_scales: tuple[float, ...] = (1.0,) * 6,
        time_transform: str = "ln",
        pos_embedding: bool = True,
        layout: str = "pmt_dit",
        forward_normalization: bool = False,
        label_buffers: bool = True,
    ) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.hidden = hidden
        self.t_embed_dim = t_embed_dim
        self.layout = layout
        self.forward_normalization = forward_normalization or layout == "era_a"
        self.time_transform = time_transform  # plain attribute: not in the state_dict (as in GENESIS)
        self.embedder = PMTEmbedding(hidden, label_dim, dropout, fusion, layout)
        if pos_embedding:
            self.pos = nn.Parameter(torch.zeros(1, seq_len, hidden))
            trunc_normal_init_(self.pos, std=0.02)
        else:
            self.register_parameter("pos", None)
        register_affine_buffers(
            self, affine_offsets, affine_scales, label_offsets if label_buffers else None,
            label_scales if label_buffers else None, (5, 1), (len(label_offsets),)
        )
        half = hidden // 2
        self.t_mlp = nn.Sequential(nn.Linear(t_embed_dim, hidden), nn.SiLU(), nn.Linear(hidden, half))
        self.y_mlp = nn.Sequential(nn.Linear(label_dim, hidden), nn.SiLU(), nn.Linear(hidden, half))
        cond_dim = 2 * half
        self.blocks = nn.ModuleList(
            DiTBlock(hidden, heads, cond_dim, mlp_ratio, dropout, layout) for _ in range(depth)
        )
        self.ln_out = nn.LayerNorm(hidden)
        self.out_proj = nn.Linear(hidden, 2)

    def forward(
        self, x_sig_t: torch.Tensor, geom: torch.Tensor, t: torch.Tensor, label: torch.Tensor
    ) -> torch.Tensor:
        batch, channels, length = x_sig_t.shape
        assert channels == 2 and length == self.seq_len, "x_sig_t must be (B, 2, seq_len)"
        assert tuple(geom.shape) == (batch, 3, length), "geom must be (B, 3, seq_len)"
        if self.forward_normalization:
            x5 = (torch.cat([x_sig_t, geom], dim=1) + self.affine_offset) * self.affine_scale
            x_sig_t, geom = x5[:, :2], x5[:, 2:]
        if self.layout == "era_a":
            label = (label + self.label_offset) * self.label_scale
        embedded = self.embedder(x_sig_t.transpose(1, 2), geom.transpose(1, 2), label)
        tokens, h_geo = embedded if self.layout == "era_a" else (embedded, None)
        if self.pos is not None:
            tokens = tokens + self.pos
        cond = torch.cat([self.t_mlp(sinusoidal_embedding(t, self.t_embed_dim)), self.y_mlp(label)], dim=-1)
        for block in self.blocks:
            tokens = block(tokens, cond)
        if self.layout == "era_a":
            tokens = tokens + h_geo  # Era A re-adds the geometry embedding before the output head
        return self.out_proj(self.ln_out(tokens)).transpose(1, 2)
