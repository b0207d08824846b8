"""The built-in GENESIS architectures: builders, notes and normalization facts per config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from reporter.models.defaults import (
    DIT_LAYOUTS,
    check_heads,
    require_choice,
    require_int,
    require_vector,
    resolve_model_config,
)
from reporter.models.pmt_dit import PMTDit
from reporter.models.semantics import (
    EPS_OUTPUT,
    cdit_example_inputs,
    cdit_inputs,
    standard_example_inputs,
    standard_inputs,
)
from reporter.models.spec import ArchitectureSpec, NormalizationInfo

V2_FORMULA = "x' = (ln(1 + x) for time, then x - offset) / scale; label' = (label - offset) / scale"
FORWARD_FORMULA = "(x + offset) * scale"


def _normalization_kwargs(cfg: Mapping[str, Any], label_dim: int, with_labels: bool = True) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "affine_offsets": require_vector(cfg, "affine_offsets", 5),
        "affine_scales": require_vector(cfg, "affine_scales", 5),
    }
    if with_labels:
        kwargs["label_offsets"] = require_vector(cfg, "label_offsets", label_dim)
        kwargs["label_scales"] = require_vector(cfg, "label_scales", label_dim)
    return kwargs


# --- dit ------------------------------------------------------------------------------------------


def build_dit(model_cfg: Mapping[str, Any]) -> nn.Module:
    """PMTDit in the layout chosen by `dit_layout` / `pos_embedding` (see MODEL_EXTENSION_KEYS)."""
    cfg = resolve_model_config(model_cfg)
    hidden, heads = require_int(cfg, "hidden"), require_int(cfg, "heads")
    check_heads(hidden, heads)
    label_dim = require_int(cfg, "label_dim")
    return PMTDit(
        seq_len=require_int(cfg, "seq_len"),
        hidden=hidden,
        depth=require_int(cfg, "depth", minimum=0),
        heads=heads,
        dropout=float(cfg["dropout"]),
        fusion=require_choice(cfg, "fusion", ("SUM", "FiLM")),
        label_dim=label_dim,
        t_embed_dim=require_int(cfg, "t_embed_dim"),
        mlp_ratio=float(cfg["mlp_ratio"]),
        time_transform=str(cfg["time_transform"]),
        pos_embedding=bool(cfg["pos_embedding"]),
        layout=require_choice(cfg, "dit_layout", DIT_LAYOUTS),
        **_normalization_kwargs(cfg, label_dim),
    )


def dit_notes(model_cfg: Mapping[str, Any]) -> list[str]:
    cfg = resolve_model_config(model_cfg)
    notes = []
    if cfg["dit_layout"] == "era_a" and cfg["fusion"] == "FiLM":
        notes.append(
            "Era-A FiLM: GENESIS applies gamma/beta with unsqueeze(-1) to (B, L, H) tokens, which raises at "
            "runtime unless seq_len == hidden; genesis-report broadcasts them over the sequence instead "
            "(same parameters and keys)."
        )
    return notes


def dit_normalization(model_cfg: Mapping[str, Any]) -> NormalizationInfo:
    cfg = resolve_model_config(model_cfg)
    buffers = ("affine_offset", "affine_scale", "label_offset", "label_scale")
    if cfg["dit_layout"] == "era_a":
        return NormalizationInfo(
            "forward",
            f"{FORWARD_FORMULA} on concat(x_sig_t, geom); (label + label_offset) * label_scale",
            buffers,
            "Era-A PMTDit normalizes signal, geometry and labels in forward (v0 convention).",
        )
    return NormalizationInfo(
        "dataloader",
        V2_FORMULA,
        buffers,
        "pmt_dit.py (>= V:27a044fa): buffers are metadata only; the dataloader normalized the data "
        "(the two earliest pmt_dit.py versions applied (x + offset) * scale in forward instead).",
    )


DIT = ArchitectureSpec(
    name="dit",
    class_name="PMTDit",
    build=build_dit,
    example_inputs=standard_example_inputs,
    inputs=standard_inputs(),
    output=EPS_OUTPUT,
    notes=dit_notes,
    normalization=dit_normalization,
)

BUILTIN_SPECS: tuple[ArchitectureSpec, ...] = (DIT,)

__all__ = ["BUILTIN_SPECS", "cdit_example_inputs", "cdit_inputs"]
