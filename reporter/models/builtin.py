"""The built-in GENESIS architectures: builders, notes and normalization facts per config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from reporter.errors import InputError
from reporter.models.conv_mlp import PMTCNN, PMTMLP, PMTHybrid, PMTResNet
from reporter.models.defaults import (
    check_heads,
    require_choice,
    require_int,
    require_vector,
    resolve_model_config,
)
from reporter.models.pmt_c_dit import PMTCDit
from reporter.models.pmt_dit import PMTDit
from reporter.models.semantics import (
    EPS_OUTPUT,
    cdit_example_inputs,
    cdit_inputs,
    standard_example_inputs,
    standard_inputs,
)
from reporter.models.spec import ArchitectureSpec, InputSemantics, NormalizationInfo
from reporter.models.versions import GenesisVersion, resolve_version

V2_FORMULA = "x' = (ln(1 + x) for time, then x - offset) / scale; label' = (label - offset) / scale"
FORWARD_FORMULA = "(x + offset) * scale"


def _normalization_kwargs(cfg: Mapping[str, Any], with_labels: bool = True) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "affine_offsets": require_vector(cfg, "affine_offsets", 5),
        "affine_scales": require_vector(cfg, "affine_scales", 5),
    }
    if with_labels:
        # GENESIS sizes the label buffers from the tuples, not from label_dim (defaults have 6 entries)
        kwargs["label_offsets"] = require_vector(cfg, "label_offsets")
        kwargs["label_scales"] = require_vector(cfg, "label_scales", len(kwargs["label_offsets"]))
    return kwargs


# --- dit ------------------------------------------------------------------------------------------


def _dit_version(cfg: Mapping[str, Any]) -> GenesisVersion:
    """PMTDit is a GENESIS architecture: every resolved `model:` section names (or defaults to) a version."""
    version = resolve_version("dit", cfg)
    assert version is not None  # "dit" has a VERSIONS table: resolve_version answers a version or raises
    return version


def build_dit(model_cfg: Mapping[str, Any]) -> nn.Module:
    """PMTDit in the layout of the GENESIS version `genesis_version` names (reference §2.1, §6).

    The values are built as given; `reporter.models.versions.apply_version` turns a YAML into the values
    GENESIS really built (e.g. Era A's fixed label buffers) before this is called.
    """
    cfg = resolve_model_config(model_cfg)
    version = _dit_version(cfg)
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
        pos_embedding=version.pos,
        layout=version.layout,
        forward_normalization=version.forward_normalization,
        label_buffers=version.label_buffers,
        **_normalization_kwargs(cfg),
    )


def dit_notes(model_cfg: Mapping[str, Any]) -> list[str]:
    cfg = resolve_model_config(model_cfg)
    version = _dit_version(cfg)
    notes = []
    if version.layout == "era_a" and cfg["fusion"] == "FiLM":
        notes.append(
            "Era-A FiLM: GENESIS applies gamma/beta with unsqueeze(-1) to (B, L, H) tokens, which raises at "
            "runtime unless seq_len == hidden, so GENESIS could not train this model; genesis-report applies "
            "them per token (same parameters and keys) to describe it."
        )
    return notes


def dit_normalization(model_cfg: Mapping[str, Any]) -> NormalizationInfo:
    version = _dit_version(resolve_model_config(model_cfg))
    buffers = ("affine_offset", "affine_scale") + (("label_offset", "label_scale") if version.label_buffers else ())
    if version.layout == "era_a":
        return NormalizationInfo(
            "forward",
            f"{FORWARD_FORMULA} on concat(x_sig_t, geom); (label + label_offset) * label_scale",
            buffers,
            "Era-A PMTDit normalizes signal, geometry and labels in forward (v0 convention); its factory "
            "never passes label_offsets/label_scales, so the label buffers hold the constructor defaults.",
        )
    if version.forward_normalization:
        return NormalizationInfo(
            "forward",
            f"{FORWARD_FORMULA} on concat(x_sig_t, geom); labels not normalized",
            buffers,
            f"{version.code} applies the affine buffers in forward (v0 convention).",
        )
    return NormalizationInfo(
        "dataloader",
        V2_FORMULA,
        buffers,
        f"{version.code}: buffers are metadata only; the dataloader normalized the data.",
    )


def _spec(name: str, class_name: str, build: Callable[[Mapping[str, Any]], nn.Module],
          notes: Callable[[Mapping[str, Any]], list[str]],
          normalization: Callable[[Mapping[str, Any]], NormalizationInfo],
          example_inputs: Callable[[Mapping[str, Any], int], dict[str, torch.Tensor]] = standard_example_inputs,
          inputs: Callable[[], dict[str, InputSemantics]] = standard_inputs) -> ArchitectureSpec:
    """A GENESIS architecture: every one predicts the noise ε from (x_sig_t, geom, t, label)."""
    return ArchitectureSpec(name=name, class_name=class_name, build=build, example_inputs=example_inputs,
                            inputs=inputs(), output=EPS_OUTPUT, notes=notes, normalization=normalization)


DIT = _spec("dit", "PMTDit", build_dit, dit_notes, dit_normalization)


# --- c-dit ----------------------------------------------------------------------------------------

def build_cdit(model_cfg: Mapping[str, Any]) -> nn.Module:
    """PMTCDit with the values given (`apply_version` first turns a YAML into what GENESIS's factory built)."""
    cfg = resolve_model_config(model_cfg)
    classifier_size, heads = require_int(cfg, "classifier_size"), require_int(cfg, "heads")
    check_heads(classifier_size, heads, key="classifier_size")
    label_dim = require_int(cfg, "label_dim")
    return PMTCDit(
        seq_len=require_int(cfg, "seq_len"),
        hidden=require_int(cfg, "hidden"),
        classifier_size=classifier_size,
        depth=require_int(cfg, "depth", minimum=0),
        heads=heads,
        dropout=float(cfg["dropout"]),
        factor=require_int(cfg, "factor"),
        label_dim=label_dim,
        t_embed_dim=require_int(cfg, "t_embed_dim"),
        combine=require_choice(cfg, "combine", ("add", "concat")),
        update_with_classifier=bool(cfg["update_with_classifier"]),
        n_cls_tokens=require_int(cfg, "n_cls_tokens"),
        time_transform=str(cfg["time_transform"]),
        **_normalization_kwargs(cfg),
    )


def cdit_notes(model_cfg: Mapping[str, Any]) -> list[str]:
    cfg = resolve_model_config(model_cfg)
    notes = []
    if cfg["update_with_classifier"] and int(cfg["n_cls_tokens"]) > 1:
        notes.append(
            "update_with_classifier with more than one classifier token: GENESIS's forward expands the "
            "classifier tokens over the PMTs, which raises, so GENESIS could not train this model."
        )
    return notes


def cdit_normalization(model_cfg: Mapping[str, Any]) -> NormalizationInfo:
    return NormalizationInfo(
        "dataloader",
        V2_FORMULA,
        ("affine_offset", "affine_scale", "label_offset", "label_scale"),
        "PMTCDit buffers (1,5,1)/(1,6) are metadata only (normalization v2).",
    )


CDIT = _spec("c-dit", "PMTCDit", build_cdit, cdit_notes, cdit_normalization, cdit_example_inputs, cdit_inputs)


# --- cnn, resnet, hybrid, mlp --------------------------------------------------------------------


def _common_kwargs(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seq_len": require_int(cfg, "seq_len"),
        "hidden": require_int(cfg, "hidden"),
        "depth": require_int(cfg, "depth", minimum=0),
        "dropout": float(cfg["dropout"]),
        "label_dim": require_int(cfg, "label_dim"),
        "t_embed_dim": require_int(cfg, "t_embed_dim"),
        **_normalization_kwargs(cfg, with_labels=False),
    }


def _kernel_sizes(cfg: Mapping[str, Any]) -> tuple[int, ...]:
    sizes = cfg["kernel_sizes"]
    if isinstance(sizes, int) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if not isinstance(sizes, (list, tuple)) or not sizes:
        raise InputError(f"model.kernel_sizes must be a non-empty list of integers, got {sizes!r}")
    return tuple(require_int({"kernel_sizes": k}, "kernel_sizes") for k in sizes)


def build_cnn(model_cfg: Mapping[str, Any]) -> nn.Module:
    cfg = resolve_model_config(model_cfg)
    return PMTCNN(kernel_sizes=_kernel_sizes(cfg), **_common_kwargs(cfg))


def build_resnet(model_cfg: Mapping[str, Any]) -> nn.Module:
    cfg = resolve_model_config(model_cfg)
    return PMTResNet(kernel_size=require_int(cfg, "kernel_size"), **_common_kwargs(cfg))


def build_hybrid(model_cfg: Mapping[str, Any]) -> nn.Module:
    cfg = resolve_model_config(model_cfg)
    hidden, heads = require_int(cfg, "hidden"), require_int(cfg, "heads")
    check_heads(hidden, heads)
    return PMTHybrid(heads=heads, kernel_size=require_int(cfg, "kernel_size"), **_common_kwargs(cfg))


def build_mlp(model_cfg: Mapping[str, Any]) -> nn.Module:
    cfg = resolve_model_config(model_cfg)
    return PMTMLP(**_common_kwargs(cfg))


def conv_notes(model_cfg: Mapping[str, Any]) -> list[str]:
    return []


def mlp_notes(model_cfg: Mapping[str, Any]) -> list[str]:
    return [
        "PMTMLP FiLM: GENESIS applies gamma/beta with unsqueeze(-1) to (B*L, H) rows, which only broadcasts "
        "when B*L == hidden and then cannot be reshaped back, so GENESIS could not train this model; "
        "genesis-report applies them per row (same parameters and keys) to describe it.",
    ]


def forward_normalization(model_cfg: Mapping[str, Any]) -> NormalizationInfo:
    return NormalizationInfo(
        "forward",
        f"{FORWARD_FORMULA} on concat(x_sig_t, geom) (B, 5, L); labels not normalized",
        ("affine_offset", "affine_scale"),
        "Applied in forward in every GENESIS version; with v2 (dataloader-normalized) data this "
        "normalizes twice.",
    )


BUILTIN_SPECS: tuple[ArchitectureSpec, ...] = (
    DIT,
    CDIT,
    _spec("cnn", "PMTCNN", build_cnn, conv_notes, forward_normalization),
    _spec("resnet", "PMTResNet", build_resnet, conv_notes, forward_normalization),
    _spec("hybrid", "PMTHybrid", build_hybrid, conv_notes, forward_normalization),
    _spec("mlp", "PMTMLP", build_mlp, mlp_notes, forward_normalization),
)
