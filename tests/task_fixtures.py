"""Build synthetic GENESIS task folders (config, checkpoints, training log) inside tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import CONFIGS

TRAIN_LOSSES = [0.5, 0.25, 0.125]
VAL_LOSSES = [None, 0.3, 0.2]


def training_log_text(train: list[float], val: list[float | None]) -> str:
    """The trainer's prints, including a tqdm bar with carriage returns and other noise."""
    lines = ["⚙️  Configuration Loaded", "Epoch 1/3:  10%|#  | 1/10 [00:01<00:09]\rEpoch 1/3: 100%|###| 10/10"]
    for i, (t, v) in enumerate(zip(train, val, strict=True), 1):
        lines += ["", "=" * 70, f"📊 Epoch {i}/{len(train)} Summary", "=" * 70, f"  Time:       {i}.00s",
                  "  LR:         1.00e-04", f"  Train Loss: {t:.6f}",
                  f"  Val Loss:   {'val_loss=N/A' if v is None else f'val_loss={v:.6f}'}",
                  "  Early Stop: patience=0/4", "=" * 70]
    return "\n".join(lines) + "\n"


def make_task(root: Path, name: str, config: str = "default.yaml", checkpoints: bool = True,
              log: bool = True, genesis_version: str | None = None) -> Path:
    """tasks/<name>/ with config.yaml, checkpoints/{exp}_{epoch_0000,epoch_0001,best}.pt and the training log.

    ``genesis_version`` builds the weights with that GENESIS code while config.yaml does not say so.
    """
    import torch

    task = root / name
    (task / "checkpoints").mkdir(parents=True)
    (task / "logs").mkdir()
    shutil.copy(CONFIGS / config, task / "config.yaml")
    if checkpoints:
        from reporter.config.loader import load_config
        from reporter.pipeline import build_from_config

        loaded = load_config(task / "config.yaml")
        values = {**loaded.model, "genesis_version": genesis_version} if genesis_version else None
        built = build_from_config(loaded, model_values=values)
        state = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in built.module.state_dict().items()}
        for epoch, name_ in ((0, "exp_epoch_0000"), (1, "exp_epoch_0001"), (2, "exp_best")):
            best = min(TRAIN_LOSSES[: epoch + 1])
            torch.save({"epoch": epoch, "global_step": 10 * (epoch + 1), "model_state_dict": state,
                        "best_loss": best, "metrics": {"train/epoch_loss": TRAIN_LOSSES[epoch]}},
                       task / "checkpoints" / f"{name_}.pt")
    if log:
        (task / "logs" / "exp_training.txt").write_text(training_log_text(TRAIN_LOSSES, VAL_LOSSES),
                                                        encoding="utf-8")
    return task
