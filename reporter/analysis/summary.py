"""The model summary: class, key configuration, exact parameter/buffer counts and sizes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from reporter.analysis.ownership import owned_parameters
from reporter.report.model import GenesisCode, KeyValue, SummarySection

# Which `model:` fields matter for each architecture, with the seed inspector's labels.
_LABELS = {
    "architecture": "Architecture",
    "seq_len": "Sequence Length",
    "hidden": "Hidden Dimension",
    "depth": "Depth (Layers)",
    "heads": "Attention Heads",
    "dropout": "Dropout",
    "fusion": "Fusion Strategy",
    "label_dim": "Label Dimension",
    "t_embed_dim": "Time Embed Dim",
    "mlp_ratio": "MLP Ratio",
    "kernel_size": "Kernel Size",
    "kernel_sizes": "Kernel Sizes",
    "classifier_size": "Classifier Size",
    "factor": "Expansion Factor",
    "combine": "Combine",
    "update_with_classifier": "Update With Classifier",
    "n_cls_tokens": "Classifier Tokens",
}
_COMMON = ["architecture", "seq_len", "hidden", "depth"]
RELEVANT_FIELDS: dict[str, list[str]] = {
    "dit": [*_COMMON, "heads", "dropout", "fusion", "label_dim", "t_embed_dim", "mlp_ratio"],
    "c-dit": [*_COMMON, "heads", "dropout", "classifier_size", "factor", "combine", "update_with_classifier",
              "n_cls_tokens", "label_dim", "t_embed_dim"],
    "cnn": [*_COMMON, "kernel_sizes", "dropout", "label_dim", "t_embed_dim"],
    "resnet": [*_COMMON, "kernel_size", "dropout", "label_dim", "t_embed_dim"],
    "hybrid": [*_COMMON, "heads", "kernel_size", "dropout", "label_dim", "t_embed_dim"],
    "mlp": [*_COMMON, "dropout", "label_dim", "t_embed_dim"],
}


def analyse_summary(model: nn.Module, architecture: str, model_cfg: Mapping[str, Any],
                    notes: list[str] | None = None, genesis: GenesisCode | None = None) -> SummarySection:
    params = owned_parameters(model)
    total = sum(p.numel for p in params)
    trainable = sum(p.numel for p in params if p.trainable)
    buffers = list(model.named_buffers())
    state = model.state_dict(keep_vars=True)
    dtypes = sorted({p.dtype for p in params}) or ["float32"]
    param_bytes = sum(p.numel * _itemsize(p.dtype) for p in params)
    fields = RELEVANT_FIELDS.get(architecture) or _constructor_fields(model, model_cfg)
    configuration = [KeyValue(label=_LABELS.get(k, k), value=_plain(model_cfg[k])) for k in fields if k in model_cfg]
    return SummarySection(
        model_class=type(model).__name__,
        architecture=architecture,
        genesis=genesis,
        configuration=configuration,
        total_parameters=total,
        trainable_parameters=trainable,
        frozen_parameters=total - trainable,
        buffer_count=len(buffers),
        buffer_elements=sum(b.numel() for _, b in buffers),
        buffer_bytes=sum(b.numel() * b.element_size() for _, b in buffers),
        parameter_dtype=", ".join(dtypes),
        parameter_bytes=param_bytes,
        size_fp32_bytes=total * 4,
        size_bf16_bytes=total * 2,
        size_fp16_bytes=total * 2,
        state_dict_keys=len(state),
        state_dict_elements=sum(t.numel() for t in state.values()),
        notes=list(notes or []),
    )


def _constructor_fields(model: nn.Module, model_cfg: Mapping[str, Any]) -> list[str]:
    """For a third-party class: the `model:` keys its constructor accepts (what it was built with)."""
    import inspect

    try:
        accepted = inspect.signature(type(model).__init__).parameters
    except (TypeError, ValueError):
        return []
    return [k for k in accepted if k in model_cfg]


def _itemsize(dtype: str) -> int:
    return getattr(torch, dtype).itemsize


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
