"""Checking checkpoint weights against a built model, and a given config against the embedded one."""

from __future__ import annotations

import os
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
        elif _normalise(given[key], path) != _normalise(embedded[key], path):
            findings.append(Finding(
                severity=Severity.warning, code="config.differs-from-checkpoint", where=path,
                message=f"{path}: given {given[key]!r}, checkpoint was trained with {embedded[key]!r}"))
    return findings


#: Config keys that hold paths: 'logs' and './logs' are the same folder.
PATH_KEYS = ("output_dir", "checkpoint_dir", "log_dir", "h5_path", "resume_from_checkpoint")


def _normalise(value: Any, path: str = "") -> Any:
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, str) and path.rsplit(".", 1)[-1] in PATH_KEYS:
        return os.path.normpath(value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def group_config_differences(findings: list[Finding], given_name: str = "--config") -> list[Finding]:
    """Per-key differences as at most three findings, most consequential first: the model and data (they
    change the numbers; warning), then training and the rest (info), then paths (info)."""
    groups: dict[str, list[Finding]] = {"model": [], "other": [], "paths": []}
    for f in findings:
        key = (f.where or "").split(".")
        if key[-1] in PATH_KEYS:
            groups["paths"].append(f)
        elif key[0] in ("model", "data"):
            groups["model"].append(f)
        else:
            groups["other"].append(f)
    words = {"model": (Severity.warning, "config.differs-model", "the model and data"),
             "other": (Severity.info, "config.differs-training", "training, diffusion and the rest"),
             "paths": (Severity.info, "config.differs-paths", "paths")}
    grouped = []
    for name, members in groups.items():
        if not members:
            continue
        severity, code, what = words[name]
        grouped.append(Finding(
            severity=severity, code=code, where=name if name != "other" else None,
            items=[m.message for m in members],
            message=f"{given_name} and the checkpoint's own config differ in {what} ({len(members)}): "
                    + "; ".join(m.message for m in members[:8])
                    + (f" and {len(members) - 8} more" if len(members) > 8 else "")))
    return grouped
