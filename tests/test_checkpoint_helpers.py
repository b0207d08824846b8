"""Builders for GENESIS-style checkpoints used by the checkpoint tests (generated in tmp_path)."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch
from torch import nn

CONFIG_MODULE = textwrap.dedent(
    """
    from dataclasses import dataclass, field
    from pathlib import Path
    from typing import Optional, Tuple

    @dataclass
    class ModelConfig:
        architecture: str = "dit"
        seq_len: int = 5160
        hidden: int = 16
        depth: int = 2
        heads: int = 8
        dropout: float = 0.1
        fusion: str = "SUM"
        affine_scales: Tuple[float, ...] = (100.0, 10.0, 600.0, 550.0, 550.0)

    @dataclass
    class TrainingConfig:
        num_epochs: int = 100
        learning_rate: float = 2e-4
        optimizer: str = "AdamW"
        scheduler: Optional[str] = "plateau"
        fusion_kind: str = "SUM"
        output_dir: Path = Path("outputs/run")

    @dataclass(frozen=True)
    class DataConfig:
        batch_size: int = 128
    """
)


class TinyDit(nn.Module):
    """A small model with GENESIS PMTDit-style key names (gates, ada_attn, attn, mlp.fc1...)."""

    def __init__(self, hidden: int = 8, depth: int = 2) -> None:
        super().__init__()
        self.register_buffer("affine_scale", torch.ones(5, 1))
        self.embedder = nn.Module()
        self.embedder.signal_net = nn.Sequential(nn.Linear(2, hidden), nn.Dropout(), nn.ReLU(),
                                                 nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            block = nn.Module()
            block.gate_attn = nn.Parameter(torch.zeros(1))
            block.attn = nn.MultiheadAttention(hidden, 2, batch_first=True)
            block.mlp = nn.Module()
            block.mlp.fc1 = nn.Linear(hidden, 4 * hidden)
            block.mlp.fc2 = nn.Linear(4 * hidden, hidden)
            self.blocks.append(block)
        self.out_proj = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embedder.signal_net(x)
        for block in self.blocks:
            h = h + block.gate_attn * block.attn(h, h, h, need_weights=False)[0]
            h = h + block.mlp.fc2(torch.relu(block.mlp.fc1(h)))
        return self.out_proj(h)


def load_config_module(tmp_path: Path, name: str = "config"):
    """Write and import a throwaway ``config`` module (removed again with ``forget_module``)."""
    folder = tmp_path / f"mod_{name}"
    folder.mkdir()
    (folder / f"{name}.py").write_text(CONFIG_MODULE)
    sys.path.insert(0, str(folder))
    sys.modules.pop(name, None)
    return importlib.import_module(name), folder


def forget_module(name: str, folder: Path) -> None:
    sys.modules.pop(name, None)
    sys.path.remove(str(folder))


def train_briefly(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int = 3) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(4, 6, 2)).pow(2).mean().backward()
        optimizer.step()


def trainer_checkpoint(tmp_path: Path, era: str = "late", optimizer: str = "AdamW",
                       scheduler: str | None = "plateau", epoch: int = 7, global_step: int = 1234,
                       model: nn.Module | None = None) -> tuple[Path, nn.Module]:
    """Save a checkpoint shaped like GENESIS's trainer of the given era (§3.1 of the reference)."""
    config, folder = load_config_module(tmp_path)
    model = model or TinyDit()
    opt_class = {"AdamW": torch.optim.AdamW, "Adam": torch.optim.Adam, "SGD": torch.optim.SGD}[optimizer]
    kwargs = {"momentum": 0.9} if optimizer == "SGD" else {}
    opt = opt_class(model.parameters(), lr=3e-4, **kwargs)
    train_briefly(model, opt)
    ckpt = {
        "epoch": epoch, "global_step": global_step,
        "model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict(),
        "best_loss": np.float64(0.0123),
        "config": {"experiment_name": "icecube_diffusion_default", "model": config.ModelConfig(),
                   "training": config.TrainingConfig(), "data": config.DataConfig(), "device": "cuda",
                   "seed": 42},
    }
    if scheduler == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=3)
        ckpt["scheduler_state_dict"] = plateau.state_dict()
    elif scheduler == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
        sched.step()
        ckpt["scheduler_state_dict"] = sched.state_dict()
    if era in ("mid", "late"):
        ckpt["metrics"] = {"train/epoch_loss": np.float64(0.02), "train/epoch_time": 12.5}
        ckpt["early_stopping_state_dict"] = {
            "counter": 2, "best_score": -0.0123, "early_stop": False, "best_epoch": 5,
            "best_weights": {k: v.clone() for k, v in model.state_dict().items()},
            "patience": 4, "min_delta": -1e-4, "mode": "min", "baseline": None}
    if era == "mid":
        ckpt["suffix"] = "final"
    if era == "late":
        ckpt["checkpoint_metadata"] = {"experiment_name": "icecube_diffusion_default", "epoch": epoch,
                                       "is_best": True, "metric_value": 0.02, "timestamp": None}
    path = tmp_path / f"icecube_diffusion_default_{era}.pt"
    torch.save(ckpt, path)
    forget_module("config", folder)
    return path, model
