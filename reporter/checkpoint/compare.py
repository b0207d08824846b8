"""Checking checkpoint weights against a built model, and a given config against the embedded one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from reporter.report.base import Finding, Severity


def compare_state_dict(model: nn.Module, shapes: Mapping[str, tuple]) -> list[Finding]:
    """Missing/unexpected keys and shape mismatches between ``model`` and checkpoint ``shapes``.

    Works on a model built on the meta device (only shapes are read).
    """
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(shape) for name, shape in shapes.items()}
    findings = []
    for name in expected.keys() - found.keys():
        findings.append(Finding(severity=Severity.error, code="weights.missing-key", where=name,
                                message=f"the model has {name} {list(expected[name])} but the checkpoint "
                                        "does not"))
    for name in found.keys() - expected.keys():
        findings.append(Finding(severity=Severity.error, code="weights.unexpected-key", where=name,
                                message=f"the checkpoint has {name} {list(found[name])} that the model "
                                        "does not have"))
    for name in expected.keys() & found.keys():
        if expected[name] != found[name]:
            findings.append(Finding(
                severity=Severity.error, code="weights.shape-mismatch", where=name,
                message=f"{name}: checkpoint shape {list(found[name])}, model shape {list(expected[name])}"))
    return sorted(findings, key=lambda f: (f.code, f.where or ""))


def config_differences(given: Mapping[str, Any], embedded: Mapping[str, Any],
                       prefix: str = "") -> list[Finding]:
    """Where a config given with ``--config`` differs from the one embedded in the checkpoint."""
    findings = []
    for key in sorted(set(given) | set(embedded), key=str):
        path = f"{prefix}{key}"
        if key not in embedded:
            findings.append(Finding(severity=Severity.info, code="config.not-in-checkpoint", where=path,
                                    message=f"{path} = {given[key]!r} is not in the checkpoint's config"))
        elif key not in given:
            findings.append(Finding(severity=Severity.info, code="config.only-in-checkpoint", where=path,
                                    message=f"{path} = {embedded[key]!r} is only in the checkpoint's config"))
        elif isinstance(given[key], Mapping) and isinstance(embedded[key], Mapping):
            findings += config_differences(given[key], embedded[key], f"{path}.")
        elif _normalise(given[key]) != _normalise(embedded[key]):
            findings.append(Finding(
                severity=Severity.warning, code="config.differs-from-checkpoint", where=path,
                message=f"{path}: given {given[key]!r}, checkpoint was trained with {embedded[key]!r}"))
    return findings


def _normalise(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value
