"""PMTCDit (`architecture: c-dit`, models/pmt_c_dit.py, reference §2.2).

PMT tokens are refined by per-token MLP blocks; a small set of classifier tokens (conditioned on timestep
and label) cross-attends to the PMT tokens and is decoded back into every token. Key names, shapes,
module names and the forward (including `need_weights` left at its default, and the classifier token
expanded over the PMTs when `update_with_classifier`) are those of GENESIS's models/pmt_c_dit.py
@8b1d32d6.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from reporter.models.layers import register_affine_buffers, sinusoidal_embedding


def _token_net(in_dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Linear → ReLU → Dropout → Linear (keys .0 and .3)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden))


class PMTEmbedding(nn.Module):
    """Signal and geometry token nets, combined by addition (width h) or concatenation (width 2h)."""

    def __init__(self, hidden: int, dropout: float, combine: str) -> None:
        super().__init__()
        self.combine = combine
        self.signal_net = _token_net(2, hidden, dropout)
        self.geom_net = _token_net(3, hidden, dropout)

    def forward(self, signal: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
        h_sig, h_geo = self.signal_net(signal), self.geom_net(geometry)
        return torch.cat([h_sig, h_geo], dim=-1) if self.combine == "concat" else h_sig + h_geo


class CBlock(nn.Module):
    """Classifier tokens cross-attend to the normalized PMT tokens, then a residual MLP (`combine`)."""

    def __init__(self, token_dim: int, cls_dim: int, heads: int, factor: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(token_dim)
        self.mha = nn.MultiheadAttention(
            cls_dim, heads, dropout=dropout, kdim=token_dim, vdim=token_dim, batch_first=True
        )
        self.combine = nn.Sequential(
            nn.LayerNorm(cls_dim),
            nn.Linear(cls_dim, factor * cls_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(factor * cls_dim, cls_dim),
            nn.Dropout(dropout),
        )

    def forward(self, tokens: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        """tokens (B, L, Hs), cls (B, n_cls, Cs) -> updated cls; GENESIS leaves need_weights=True."""
        kv = self.norm(tokens)
        cls = cls + self.mha(cls, kv, kv)[0]
        return cls + self.combine(cls)


class PMTCDit(nn.Module):
    """GENESIS PMTCDit; forward(x_sig (B,2,L), t (B,), label (B,Ld), geom (B,3,L)) -> ε̂ (B,2,L)."""

    def __init__(
        self,
        seq_len: int = 5160,
        hidden: int = 16,
        classifier_size: int = 128,
        depth: int = 2,
        heads: int = 2,
        dropout: float = 0.1,
        factor: int = 2,
        label_dim: int = 6,
        t_embed_dim: int = 128,
        combine: str = "add",
        update_with_classifier: bool = True,
        n_cls_tokens: int = 1,
        affine_offsets: tuple[float, ...] = (0.0,) * 5,
        affine_scales: tuple[float, ...] = (1.0,) * 5,
        label_offsets: tuple[float, ...] = (0.0,) * 6,
        label_scales: tuple[float, ...] = (1.0,) * 6,
        time_transform: str = "ln",
    ) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.hidden = hidden
        self.depth = depth
        self.t_embed_dim = t_embed_dim
        self.update_with_classifier = update_with_classifier
        self.n_cls_tokens = n_cls_tokens
        self.time_transform = time_transform
        token_dim = 2 * hidden if combine == "concat" else hidden
        self.embedder = PMTEmbedding(hidden, dropout, combine)
        self.cls_token = nn.Parameter(torch.randn(1, n_cls_tokens, classifier_size))
        register_affine_buffers(
            self,
            affine_offsets,
            affine_scales,
            label_offsets,
            label_scales,
            (1, 5, 1),
            (1, len(label_offsets)),
        )
        self.t_mlp = nn.Sequential(nn.Linear(t_embed_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.label_mlp = nn.Sequential(nn.Linear(label_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.cond_proj = nn.Linear(2 * hidden, classifier_size)
        block_in = token_dim + (classifier_size if update_with_classifier else 0)
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                [
                    nn.Sequential(
                        nn.Linear(block_in, factor * token_dim),
                        nn.ReLU(),
                        nn.Dropout(dropout),
                        nn.Linear(factor * token_dim, token_dim),
                    ),
                    CBlock(token_dim, classifier_size, heads, factor, dropout),
                ]
            )
            for _ in range(depth)
        )
        self.decoder = nn.Sequential(
            nn.Linear(classifier_size, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, token_dim)
        )
        self.final_proj = nn.Sequential(nn.LayerNorm(token_dim), nn.Linear(token_dim, 2))

    def forward(
        self, x_sig: torch.Tensor, t: torch.Tensor, label: torch.Tensor, geom: torch.Tensor
    ) -> torch.Tensor:
        batch, _, length = x_sig.shape
        tokens = self.embedder(x_sig.transpose(1, 2), geom.transpose(1, 2))
        cond = torch.cat(
            [self.t_mlp(sinusoidal_embedding(t, self.t_embed_dim)), self.label_mlp(label)], dim=-1
        )
        cls = self.cls_token.expand(batch, -1, -1) + self.cond_proj(cond).unsqueeze(1)
        for pair in self.blocks:
            pmt_block, cls_block = cast(nn.ModuleList, pair)
            if self.update_with_classifier:
                # GENESIS expands the classifier token(s) over the PMTs: only one token can expand.
                tokens = tokens + pmt_block(torch.cat([tokens, cls.expand(-1, length, -1)], dim=-1))
            else:
                tokens = tokens + pmt_block(tokens)
            cls = cls_block(tokens, cls)
        decoded = self.decoder(cls)
        if self.n_cls_tokens > 1:
            decoded = decoded.mean(dim=1, keepdim=True)
        tokens = tokens + decoded.expand(-1, length, -1)
        return self.final_proj(tokens).transpose(1, 2)
