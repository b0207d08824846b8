"""Every module with its type, parameter counts and parameter shapes (the --verbose listing)."""

from __future__ import annotations

from torch import nn

from reporter.analysis.ownership import owned_parameters
from reporter.report.model import ModuleRow, ModulesSection, ParameterTensor


def analyse_modules(model: nn.Module) -> ModulesSection:
    params = owned_parameters(model)
    by_owner: dict[str, list[ParameterTensor]] = {}
    for p in params:
        by_owner.setdefault(p.owner, []).append(ParameterTensor(
            name=p.name, shape=list(p.shape), dtype=p.dtype, numel=p.numel, trainable=p.trainable))
    rows = []
    for name, module in model.named_modules(remove_duplicate=True):
        prefix = f"{name}." if name else ""
        subtree = sum(p.numel for p in params if p.owner == name or p.owner.startswith(prefix) or not name)
        own = by_owner.get(name, [])
        rows.append(ModuleRow(
            name=name,
            type=type(module).__name__,
            depth=0 if not name else name.count(".") + 1,
            own_parameters=sum(t.numel for t in own),
            total_parameters=subtree,
            tensors=own,
        ))
    return ModulesSection(rows=rows)
