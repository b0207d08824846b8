"""Data flow of a model's forward pass, traced on fake tensors (see trace.py and structure.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from reporter.flow.structure import build_flow_section
from reporter.flow.trace import FlowGraph, FlowTraceError, TensorMeta, TraceNode, trace_flow
from reporter.report.flow import FlowSection

__all__ = [
    "FlowGraph",
    "FlowTraceError",
    "TensorMeta",
    "TraceNode",
    "analyse_flow",
    "build_flow_section",
    "trace_flow",
]


def analyse_flow(
    model: nn.Module,
    inputs: Mapping[str, torch.Tensor],
    *,
    spec: Any | None = None,
    model_cfg: Mapping[str, Any] | None = None,
    batch_size: int,
) -> FlowSection:
    """Trace ``model(**inputs)`` and structure it; ``spec`` (an ArchitectureSpec) adds the semantic
    labels and, with ``model_cfg``, where normalization happens."""
    normalization = spec.normalization(model_cfg or {}) if spec is not None else None
    return build_flow_section(
        trace_flow(model, inputs), semantics=spec, normalization=normalization, batch_size=batch_size
    )
