"""Which module owns each parameter: the basis of every per-module and per-type count.

The seed inspector summed parameters of *leaf* modules only and so dropped parameters registered on
non-leaf modules (PMTDit's `pos`, attention `in_proj_*`, the DiT gates). Here each parameter tensor is
attributed to the module whose `_parameters` holds it, so the groups always sum to the total.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class OwnedParameter:
    name: str  # qualified parameter name, e.g. "blocks.0.attn.in_proj_weight"
    owner: str  # qualified owner module name ("" for the root)
    owner_type: str  # class name of the owner module
    shape: tuple[int, ...]
    dtype: str
    numel: int
    trainable: bool


def owned_parameters(model: nn.Module) -> list[OwnedParameter]:
    """Every distinct parameter tensor once (shared parameters counted at first registration)."""
    seen: set[int] = set()
    result: list[OwnedParameter] = []
    for module_name, module in model.named_modules(remove_duplicate=True):
        for local_name, param in module._parameters.items():
            if param is None or id(param) in seen:
                continue
            seen.add(id(param))
            result.append(OwnedParameter(
                name=f"{module_name}.{local_name}" if module_name else local_name,
                owner=module_name,
                owner_type=type(module).__name__,
                shape=tuple(param.shape),
                dtype=str(param.dtype).removeprefix("torch."),
                numel=param.numel(),
                trainable=param.requires_grad,
            ))
    return result
