"""What the registry knows about one architecture: how to build it, feed it, and describe it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class InputSemantics:
    """Meaning of one forward input or of the output (shape written with symbols B, L, ...)."""

    shape: str
    description: str
    channels: tuple[str, ...] = ()
    dtype: str = "float32"


@dataclass(frozen=True)
class NormalizationInfo:
    """Where input normalization happens for an architecture/layout (reference §5.2).

    `where` is "forward" (the model applies `formula` to its inputs using its buffers) or "dataloader"
    (the buffers are metadata only; the dataloader normalized the data before the model saw it).
    """

    where: str
    formula: str | None
    buffers: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ArchitectureSpec:
    """One architecture the reporter can build from a `model:` section."""

    name: str
    class_name: str
    build: Callable[[Mapping[str, Any]], nn.Module]
    example_inputs: Callable[[Mapping[str, Any], int], dict[str, torch.Tensor]]
    inputs: dict[str, InputSemantics] = field(default_factory=dict)
    output: InputSemantics = InputSemantics(shape="?", description="model output")
    notes: Callable[[Mapping[str, Any]], list[str]] = lambda cfg: []
    normalization: Callable[[Mapping[str, Any]], NormalizationInfo] = lambda cfg: NormalizationInfo(
        where="unknown", formula=None
    )
