"""The few facts that comparisons, task indexes and CI gates read from a report.

This is the ONE place that reads report sections which are still being integrated (checkpoint
training state, memory and FLOPs): everything is read with `getattr` so reports made before those
sections existed (archived JSON) still work, and a renamed field needs a change here only.
"""

from __future__ import annotations

import math
from typing import Any

from reporter.report.model import Report

# Candidate field names, first match wins (kept here so the lead adapts one list when a section lands).
_PEAK_MEMORY_FIELDS = ("peak_bytes", "peak_training_bytes", "training_peak_bytes", "predicted_peak_bytes",
                       "peak")
_FLOPS_FIELDS = ("training_step_flops", "train_flops", "forward_backward_flops", "total_flops", "forward_flops",
                 "flops")
_CHECKPOINT_FIELDS = ("epoch", "epochs_completed", "global_step", "best_loss", "suffix")


def _number(section: Any, names: tuple[str, ...]) -> float | int | None:
    """The first numeric attribute (or dict key) of `section` among `names`."""
    if section is None:
        return None
    for name in names:
        value = section.get(name) if isinstance(section, dict) else getattr(section, name, None)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            return value
    return None


def _target(report: Report, section: Any) -> str | None:
    target = getattr(section, "target", None) if section is not None else None
    return target or report.meta.options.get("target")


def checkpoint_facts(report: Report) -> dict[str, Any]:
    """Training state of a checkpoint report ({} for a config report)."""
    section = getattr(report, "checkpoint", None)
    if section is None:
        return {}
    state = getattr(section, "training_state", None) or section
    facts = {}
    for name in _CHECKPOINT_FIELDS:
        value = state.get(name) if isinstance(state, dict) else getattr(state, name, None)
        if value is not None:
            facts[name] = value
    return facts


def config_values(report: Report) -> dict[str, Any]:
    """Every resolved config key as `section.key` (top-level keys bare), in report order."""
    if report.config is None:
        return {}
    values = {f.key: f.value for f in report.config.top_level}
    for section, fields in report.config.sections.items():
        for f in fields:
            values[f"{section}.{f.key}"] = f.value
    return values


def key_facts(report: Report) -> dict[str, Any]:
    """A flat summary of one report: what comparisons, indexes and gates look at."""
    summary = report.summary
    memory = getattr(report, "memory", None)
    flops = getattr(report, "flops", None)
    best_loss = checkpoint_facts(report).get("best_loss")
    return {
        "title": report.title,
        "subject": report.subject,
        "architecture": summary.architecture,
        "model_class": summary.model_class,
        "layout": summary.layout,
        "total_parameters": summary.total_parameters,
        "trainable_parameters": summary.trainable_parameters,
        "size_fp32_bytes": summary.size_fp32_bytes,
        "params_by_type": {g.name: g.parameters for g in report.parameters.by_type},
        "params_by_module": {g.name: g.parameters for g in report.parameters.by_top_level},
        "batch_size": report.meta.options.get("batch_size"),
        "target": _target(report, memory),
        "peak_memory_bytes": _number(memory, _PEAK_MEMORY_FIELDS),
        "flops": _number(flops, _FLOPS_FIELDS),
        "checkpoint": checkpoint_facts(report),
        "best_loss": best_loss,
        "findings": {sev: sum(1 for f in report.findings if f.severity == sev)
                     for sev in ("security", "error", "warning", "info")},
        "non_finite": any(_is_non_finite_finding(f.code) for f in report.findings)
        or (isinstance(best_loss, float) and math.isnan(best_loss)),
    }


def _is_non_finite_finding(code: str) -> bool:
    """Findings about NaN/inf tensor values (codes chosen by the checkpoint analyses)."""
    lowered = code.lower()
    return "nan" in lowered.split(".")[-1].split("-") or "non-finite" in lowered or "nonfinite" in lowered


def checkpoint_report_or_none(path: str, options: Any, config_path: str | None = None) -> Report | None:
    """A checkpoint report when this build has checkpoint support (`pipeline.checkpoint_report`), else None."""
    from reporter import pipeline

    make = getattr(pipeline, "checkpoint_report", None)
    if make is None:
        return None
    return make(str(path), options, config_path=config_path)
