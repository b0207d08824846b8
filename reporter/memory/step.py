"""The training step that is both traced (prediction) and run for real (benchmark).

One function so that the prediction and the measurement execute exactly the same code and lifetimes:
forward under the chosen autocast, MSE loss in fp32 against a target of the output's shape, backward,
optimizer step, ``zero_grad(set_to_none=True)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from reporter.errors import InputError

Precision = Literal["fp32", "fp16", "bf16"]
OptimizerName = Literal["AdamW", "Adam", "SGD"]
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class OptimizerSpec:
    """The optimizer GENESIS builds from ``training.optimizer`` (AdamW, Adam, or SGD with momentum 0.9)."""

    name: OptimizerName = "AdamW"
    lr: float = 2e-4
    weight_decay: float = 0.01

    @classmethod
    def from_training_config(cls, training: Mapping | None) -> OptimizerSpec:
        training = training or {}
        raw = str(training.get("optimizer", "AdamW") or "AdamW")
        names: dict[str, OptimizerName] = {"adamw": "AdamW", "adam": "Adam", "sgd": "SGD"}
        if raw.lower() not in names:
            raise InputError(f"training.optimizer {raw!r} is not one of AdamW, Adam, SGD")
        return cls(
            name=names[raw.lower()],
            lr=float(training.get("learning_rate", 2e-4)),
            weight_decay=float(training.get("weight_decay", 0.01)),
        )

    def build(self, params, *, foreach: bool | None = None) -> torch.optim.Optimizer:
        """Build the optimizer; ``foreach`` as the target device would default it (True on CUDA)."""
        if self.name == "SGD":
            return torch.optim.SGD(
                params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay, foreach=foreach
            )
        cls = torch.optim.AdamW if self.name == "AdamW" else torch.optim.Adam
        return cls(params, lr=self.lr, weight_decay=self.weight_decay, foreach=foreach)


def autocast_context(precision: Precision, device_type: str = "cpu") -> contextlib.AbstractContextManager:
    """Autocast for the step; the fake step always runs on the CPU device, the benchmark also on CUDA."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=AUTOCAST_DTYPES[precision])


def first_tensor(output) -> torch.Tensor:
    """The prediction tensor of a model output (a tensor, or the first tensor of a tuple/dict)."""
    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if isinstance(output, Mapping) else output
    for value in values:
        if isinstance(value, torch.Tensor):
            return value
    raise InputError("the model's forward returned no tensor")


def _loss(
    model: nn.Module, inputs: dict, target: torch.Tensor | None, precision: Precision, device_type: str
) -> torch.Tensor:
    with autocast_context(precision, device_type):
        prediction = first_tensor(model(**inputs))
        if target is None:  # a first step that only learns the output shape
            target = torch.zeros(prediction.shape)
        # mse_loss runs in fp32 under CUDA autocast; the explicit cast does the same on every device.
        return F.mse_loss(prediction.float(), target)


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: dict,
    target: torch.Tensor | None,
    precision: Precision,
    set_phase: Callable[[str], None] = lambda phase: None,
    device_type: str = "cpu",
) -> None:
    """One optimizer step; the model output is dropped after the loss, as in GENESIS's loop."""
    set_phase("forward")
    loss = _loss(model, inputs, target, precision, device_type)
    set_phase("backward")
    loss.backward()
    del loss
    set_phase("optimizer")
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

