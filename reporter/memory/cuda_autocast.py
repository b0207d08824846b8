"""CUDA's autocast policy, replayed while a CUDA-target step is traced with CPU autocast.

The two devices disagree on which ops autocast moves to float32: CUDA runs layer_norm, group_norm,
softmax, log_softmax, sum, exp, log, pow, rsqrt, norm, cumsum and the losses in float32 (and their
outputs are float32), while CPU autocast lets most of them run in the half type. Measured on an H200,
tracing with CPU's policy under-predicted the default PMTDit in fp16 by 22-24%. This mode casts the
floating inputs of CUDA's float32-list ops to float32 when autocast is active, as CUDA does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# CUDA's "ops that can autocast to float32" that GENESIS-style models reach (torch autocast docs).
_FP32_FUNCTIONS = {
    F.layer_norm, torch.layer_norm, F.group_norm, torch.group_norm,
    F.softmax, torch.softmax, torch.Tensor.softmax, F.log_softmax, torch.log_softmax, torch.Tensor.log_softmax,
    torch.sum, torch.Tensor.sum, torch.exp, torch.Tensor.exp, torch.log, torch.Tensor.log,
    torch.pow, torch.Tensor.pow, torch.rsqrt, torch.Tensor.rsqrt, torch.norm, torch.Tensor.norm,
    torch.cumsum, torch.Tensor.cumsum, torch.erfinv, F.mse_loss, F.l1_loss, F.smooth_l1_loss,
    F.cross_entropy, F.nll_loss, F.kl_div, F.softplus, F.normalize,
}
_HALF = (torch.float16, torch.bfloat16)


def _to_fp32(value):
    if isinstance(value, torch.Tensor) and value.dtype in _HALF:
        return value.float()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_fp32(v) for v in value)
    return value


class CudaAutocastPolicy(TorchFunctionMode):
    """Active during CUDA-target traces; a no-op unless CPU autocast is enabled."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FP32_FUNCTIONS and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return func(*_to_fp32(args), **{k: _to_fp32(v) for k, v in kwargs.items()})
        return func(*args, **kwargs)
