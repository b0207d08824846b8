"""The GENESIS config schema (IceCube era): sections, fields, defaults and expected types.

Values are GENESIS's own dataclass defaults (latest `config.py`, genesis-reference §1.2–§1.6), so a key
missing from a YAML file takes exactly the value GENESIS would use. This module imports nothing heavy:
reading a config must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldSpec:
    """One dataclass field: its default and the kind of value it accepts."""

    default: Any
    kind: str  # "str", "int", "float", "bool", "floats", "ints", "any"
    optional: bool = False


def _f(default: Any, kind: str, optional: bool = False) -> FieldSpec:
    return FieldSpec(default, kind, optional)


MODEL: dict[str, FieldSpec] = {
    "architecture": _f("dit", "str"),
    "seq_len": _f(5160, "int"),
    "hidden": _f(512, "int"),
    "depth": _f(8, "int"),
    "heads": _f(8, "int"),
    "dropout": _f(0.1, "float"),
    "fusion": _f("FiLM", "str"),
    "label_dim": _f(6, "int"),
    "t_embed_dim": _f(128, "int"),
    "mlp_ratio": _f(4.0, "float"),
    "kernel_size": _f(3, "int"),
    "kernel_sizes": _f((3, 5, 7, 9), "ints"),
    "classifier_size": _f(128, "int"),
    "factor": _f(2, "int"),
    "combine": _f("add", "str"),
    "update_with_classifier": _f(False, "bool"),
    "n_cls_tokens": _f(1, "int"),
    "affine_offsets": _f((0.0, 0.0, 0.0, 0.0, 0.0), "floats"),
    "affine_scales": _f((100.0, 10.0, 600.0, 550.0, 550.0), "floats"),
    "label_offsets": _f((0.0,) * 6, "floats"),
    "label_scales": _f((5e7, 1.0, 1.0, 600.0, 550.0, 550.0), "floats"),
    "time_transform": _f("ln", "str", optional=True),
    "exclude_zero_time": _f(True, "bool"),
}

TOP_LEVEL: dict[str, FieldSpec] = {
    "experiment_name": _f("icecube_diffusion", "str"),
    "description": _f("IceCube muon neutrino event diffusion model", "str"),
    "device": _f("auto", "str"),
    "seed": _f(42, "int"),
    "use_wandb": _f(False, "bool"),
    "wandb_project": _f("icecube-diffusion", "str"),
    "wandb_entity": _f(None, "str", optional=True),
}

DIFFUSION: dict[str, FieldSpec] = {
    "timesteps": _f(1000, "int"),
    "beta_start": _f(1e-4, "float"),
    "beta_end": _f(2e-2, "float"),
    "objective": _f("eps", "str"),
    "schedule": _f("linear", "str"),
    "cosine_s": _f(0.008, "float"),
    "use_cfg": _f(True, "bool"),
    "cfg_scale": _f(2.0, "float"),
    "cfg_dropout": _f(0.1, "float"),
}

DATA: dict[str, FieldSpec] = {
    "h5_path": _f("GENESIS-data/22644_0921_time_shift.h5", "str"),
    "replace_time_inf_with": _f(0.0, "float", optional=True),
    "channel_first": _f(True, "bool"),
    "batch_size": _f(8, "int"),
    "num_workers": _f(4, "int"),
    "pin_memory": _f(True, "bool"),
    "shuffle": _f(True, "bool"),
    "train_ratio": _f(0.8, "float"),
    "val_ratio": _f(0.1, "float"),
    "test_ratio": _f(0.1, "float"),
    "time_transform": _f("ln", "str"),
    "affine_offsets": _f((0.0, 0.0, 0.0, 0.0, 0.0), "floats"),
    "affine_scales": _f((1.0, 1.0, 1.0, 1.0, 1.0), "floats"),
    "label_offsets": _f((0.0,) * 6, "floats"),
    "label_scales": _f((1.0,) * 6, "floats"),
}

TRAINING: dict[str, FieldSpec] = {
    "num_epochs": _f(100, "int"),
    "learning_rate": _f(2e-4, "float"),
    "weight_decay": _f(0.01, "float"),
    "grad_clip_norm": _f(1.0, "float"),
    "optimizer": _f("AdamW", "str"),
    "scheduler": _f(None, "str", optional=True),
    "warmup_steps": _f(1000, "int"),
    "warmup_ratio": _f(0.04, "float"),
    "cosine_t_max": _f(None, "int", optional=True),
    "plateau_patience": _f(10, "int"),
    "plateau_factor": _f(0.5, "float"),
    "plateau_mode": _f("min", "str"),
    "plateau_threshold": _f(1e-4, "float"),
    "plateau_cooldown": _f(0, "int"),
    "plateau_verbose": _f(False, "bool"),
    "step_size": _f(30, "int"),
    "step_gamma": _f(0.1, "float"),
    "linear_start_factor": _f(1.0, "float"),
    "linear_end_factor": _f(0.0, "float"),
    "early_stopping": _f(True, "bool"),
    "early_stopping_patience": _f(4, "int"),
    "early_stopping_min_delta": _f(1e-4, "float"),
    "early_stopping_mode": _f("min", "str"),
    "early_stopping_baseline": _f(None, "float", optional=True),
    "early_stopping_restore_best": _f(True, "bool"),
    "early_stopping_verbose": _f(True, "bool"),
    "log_interval": _f(50, "int"),
    "save_interval": _f(1000, "int"),
    "eval_interval": _f(500, "int"),
    "save_best_only": _f(False, "bool"),
    "output_dir": _f("./outputs", "str"),
    "checkpoint_dir": _f("./checkpoints", "str"),
    "log_dir": _f("./logs", "str"),
    "resume_from_checkpoint": _f(None, "str", optional=True),
    "use_amp": _f(True, "bool"),
    "gradient_accumulation_steps": _f(1, "int"),
    "max_grad_norm": _f(1.0, "float"),
    "debug_mode": _f(False, "bool"),
    "detect_anomaly": _f(False, "bool"),
}

# Keys that only older GENESIS versions accepted: reported with their history instead of as typos.
HISTORICAL_KEYS: dict[tuple[str, str], str] = {
    ("training", "plateau_min_lr"): "accepted by early GENESIS versions only (removed in 017637ff, never passed "
    "to the scheduler); the latest loader rejects it",
}

# Top-level keys the loader removes before building the config.
DROPPED_TOP_LEVEL = {"benchmark"}

SECTION_NAMES = ("model", "diffusion", "data", "training")

# Channel names, in buffer order (genesis-reference §1.3, §5.1).
SIGNAL_CHANNELS = ("charge", "time", "x", "y", "z")
LABEL_CHANNELS = ("Energy", "Zenith", "Azimuth", "X", "Y", "Z")


def model_fields() -> dict[str, FieldSpec]:
    """ModelConfig fields plus genesis-report's layout keys (which GENESIS itself does not know)."""
    return {**MODEL, **extension_fields()}


def extension_fields() -> dict[str, FieldSpec]:
    """Keys genesis-report adds to `model:` to choose a historical layout; owned by the model zoo."""
    from reporter.models.defaults import MODEL_EXTENSION_KEYS, MODEL_EXTENSION_KINDS

    return {name: FieldSpec(default, MODEL_EXTENSION_KINDS[name], optional=True)
            for name, default in MODEL_EXTENSION_KEYS.items()}


def section_fields(section: str) -> dict[str, FieldSpec]:
    """Field table of one config section by its YAML name."""
    if section == "model":
        return model_fields()
    return {"diffusion": DIFFUSION, "data": DATA, "training": TRAINING}[section]
