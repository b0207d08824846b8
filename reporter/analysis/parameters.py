"""Parameters by module type and by top-level module (report section "parameters")."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import nn

from reporter.analysis.ownership import OwnedParameter, owned_parameters
from reporter.report.base import Chart, Series
from reporter.report.model import ParameterGroup, ParametersSection


def analyse_parameters(model: nn.Module) -> ParametersSection:
    params = owned_parameters(model)
    total = sum(p.numel for p in params)
    by_type = _group(params, lambda p: p.owner_type, total)
    by_top = _group(params, _top_level_name, total, keep_order=True)
    charts = [
        _chart("params-by-type", "Parameters by module type", by_type),
        _chart("params-by-top-level", "Parameters by top-level module", by_top),
    ]
    return ParametersSection(total=total, total_tensors=len(params), by_type=by_type, by_top_level=by_top,
                             charts=charts)


def _top_level_name(param: OwnedParameter) -> str:
    """First component of the qualified name: a child module, or a parameter of the root itself."""
    return param.name.split(".", 1)[0]


#: Every layer has these; the terminal names a group's own parameters only when it has others (pos, gates).
_PLAIN_NAMES = ("weight", "bias")


def _group(params: Iterable[OwnedParameter], key: Callable[[OwnedParameter], str], total: int,
           keep_order: bool = False) -> list[ParameterGroup]:
    groups: dict[str, list[OwnedParameter]] = {}
    for p in params:
        groups.setdefault(key(p), []).append(p)
    result = [
        ParameterGroup(
            name=name,
            parameters=sum(p.numel for p in members),
            tensors=len(members),
            share=(sum(p.numel for p in members) / total) if total else 0.0,
            members=[p.name for p in members],
            local_names=sorted({p.name.rsplit(".", 1)[-1] for p in members}),
            notable_names=any(p.name.rsplit(".", 1)[-1] not in _PLAIN_NAMES for p in members),
        )
        for name, members in groups.items()
    ]
    if not keep_order:
        result.sort(key=lambda g: (-g.parameters, g.name))
    return result


def _chart(chart_id: str, title: str, groups: list[ParameterGroup]) -> Chart:
    return Chart(
        id=chart_id,
        title=title,
        kind="bar",
        categories=[g.name for g in groups],
        series=[Series(name="parameters", values=[float(g.parameters) for g in groups])],
        x_label="parameters",
        unit="parameters",
        shares=[g.share for g in groups] if any(g.parameters for g in groups) else [],
    )
