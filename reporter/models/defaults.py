"""GENESIS `ModelConfig` defaults and the keys genesis-report adds to `model:` to pick a layout.

Builders accept partial `model:` sections; every missing key takes its value from here, exactly as
GENESIS's dataclass would (reference §1.3, latest config.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reporter.errors import InputError

#: GENESIS `config.ModelConfig` defaults (latest IceCube-era version, reference §1.3).
MODEL_DEFAULTS: dict[str, Any] = {
    "architecture": "dit",
    "seq_len": 5160,
    "hidden": 512,
    "depth": 8,
    "heads": 8,
    "dropout": 0.1,
    "fusion": "FiLM",
    "label_dim": 6,
    "t_embed_dim": 128,
    "mlp_ratio": 4.0,
    "kernel_size": 3,
    "kernel_sizes": (3, 5, 7, 9),
    "classifier_size": 128,
    "factor": 2,
    "combine": "add",
    "update_with_classifier": False,
    "n_cls_tokens": 1,
    "affine_offsets": (0.0, 0.0, 0.0, 0.0, 0.0),
    "affine_scales": (100.0, 10.0, 600.0, 550.0, 550.0),
    "label_offsets": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "label_scales": (5e7, 1.0, 1.0, 600.0, 550.0, 550.0),
    "time_transform": "ln",
    "exclude_zero_time": True,
}

#: Keys genesis-report reads in `model:` beyond GENESIS's own fields (GENESIS's loader rejects them):
#: - `genesis_version`: which historical GENESIS code builds the model (`reporter.models.versions`; for
#:   dit and c-dit). Better given as `--genesis-version` so the YAML stays loadable by GENESIS.
#: - `pos_embedding`, `dit_layout`: older spelling of the PMTDit version (`pos_embedding: false` is the
#:   latest pmt_dit.py, `dit_layout: era_a` the models/architectures.py class).
#: None means "not set": the architecture's default version applies.
MODEL_EXTENSION_KEYS: dict[str, Any] = {
    "genesis_version": None,
    "pos_embedding": None,
    "dit_layout": None,
}

#: Kinds of the extension keys for the config loader's coercion.
MODEL_EXTENSION_KINDS: dict[str, str] = {"genesis_version": "str", "pos_embedding": "bool", "dit_layout": "str"}


def resolve_model_config(model_cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a full model config: GENESIS defaults + extension defaults, overridden by `model_cfg`.

    YAML lists are turned into tuples (GENESIS dataclasses hold tuples) so both spellings compare equal.
    """
    merged: dict[str, Any] = {**MODEL_DEFAULTS, **MODEL_EXTENSION_KEYS}
    for key, value in (model_cfg or {}).items():
        merged[key] = tuple(value) if isinstance(value, list) else value
    if merged["time_transform"] in (None, "None", ""):
        merged["time_transform"] = "ln"  # latest ModelConfig.__post_init__ does the same
    return merged


def require_int(cfg: Mapping[str, Any], key: str, minimum: int = 1) -> int:
    """An integer model setting, or an InputError naming the key (YAML may hold "16" or 16.0)."""
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"model.{key} must be an integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"model.{key} must be an integer, got {value!r}") from None
    if number != float(value) or number < minimum:
        raise InputError(f"model.{key} must be an integer >= {minimum}, got {value!r}")
    return number


def require_vector(cfg: Mapping[str, Any], key: str, length: int | None = None) -> tuple[float, ...]:
    """A float vector (affine/label offsets and scales); `length=None` accepts any non-empty length."""
    value = cfg[key]
    wanted = f"a list of {length} numbers" if length else "a non-empty list of numbers"
    if not isinstance(value, (list, tuple)) or not value or (length is not None and len(value) != length):
        raise InputError(f"model.{key} must be {wanted}, got {value!r}")
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"model.{key} must be {wanted}, got {value!r}") from None


def require_choice(cfg: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    """A string setting restricted to known values (GENESIS compares them case-sensitively)."""
    value = cfg[key]
    if value not in choices:
        raise InputError(f"model.{key} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def check_heads(hidden: int, heads: int, key: str = "hidden") -> None:
    """nn.MultiheadAttention asserts embed_dim % heads == 0; say it as a config error instead."""
    if hidden % heads != 0:
        raise InputError(f"model.{key}={hidden} is not divisible by model.heads={heads}")
