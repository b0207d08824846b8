"""The few facts that comparisons, task indexes, CI gates and experiment-log helpers read from a report.

Import-light (the report model only): `index` reads archived task reports and `compare` archived JSON
reports without torch. One place reads them so that every consumer agrees on, e.g., which peak is "the" peak: the traced
training step in the precision the config trains with (`training.use_amp`), at the report's batch size
and target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal, TypedDict

from reporter.report.base import Finding
from reporter.report.model import Report

#: Exit status of a report whose input asks to run code when loaded (the report is still written).
SECURITY_EXIT_STATUS = 3


def training_peak_bytes(report: Report) -> int | None:
    """Predicted peak of one training step in the config's own precision (None without a memory section)."""
    memory = report.memory
    if memory is None:
        return None
    estimate = memory.amp if memory.amp is not None and memory.training_precision == memory.amp.precision \
        else memory.fp32
    return estimate.peak_bytes


def checkpoint_facts(report: Report) -> dict[str, Any]:
    """Training state of a checkpoint report ({} for a config report)."""
    if report.checkpoint is None or report.checkpoint.training is None:
        return {}
    state = report.checkpoint.training
    facts = {"epoch": state.epoch_stored, "epochs_completed": state.epochs_completed,
             "global_step": state.global_step, "best_loss": state.best_loss, "suffix": state.suffix}
    return {k: v for k, v in facts.items() if v is not None}


def config_values(report: Report) -> dict[str, Any]:
    """Every resolved config key as `section.key` (top-level keys bare), in report order."""
    if report.config is None:
        return {}
    values = {f.key: f.value for f in report.config.top_level}
    for section, fields in report.config.sections.items():
        for f in fields:
            values[f"{section}.{f.key}"] = f.value
    return values


#: Weight-health findings a comparison counts tensors of (reporter.checkpoint.weights).
WEIGHT_HEALTH_CODES = {"weights.non-finite": "tensors with NaN/Inf", "weights.all-zero": "all-zero tensors",
                       "weights.gate-zero": "never-trained gates (exactly 0)",
                       "weights.extreme-norm": "tensors with extreme values",
                       "optimizer.non-finite": "optimizer states with NaN/Inf"}


def key_facts(report: Report) -> dict[str, Any]:
    """A flat summary of one report: what comparisons, indexes and gates look at."""
    summary, parameters = report.summary, report.parameters
    memory = report.memory
    best_loss = checkpoint_facts(report).get("best_loss")
    return {
        "title": report.title,
        "subject": report.subject,
        "architecture": summary.architecture if summary else None,
        "model_class": summary.model_class if summary else None,
        "genesis_code": summary.genesis.code if summary and summary.genesis else None,
        "total_parameters": summary.total_parameters if summary else None,
        "trainable_parameters": summary.trainable_parameters if summary else None,
        "size_fp32_bytes": summary.size_fp32_bytes if summary else None,
        "params_by_type": {g.name: g.parameters for g in parameters.by_type} if parameters else {},
        "params_by_module": {g.name: g.parameters for g in parameters.by_top_level} if parameters else {},
        "batch_size": report.meta.options.get("batch_size"),
        "target": memory.target if memory else report.meta.options.get("target"),
        "peak_memory_bytes": training_peak_bytes(report),
        "flops": memory.flops.training_flops if memory and memory.flops else None,
        "checkpoint": checkpoint_facts(report),
        "best_loss": best_loss,
        "findings": {sev: sum(1 for f in report.findings if f.severity == sev)
                     for sev in ("security", "error", "warning", "info")},
        "non_finite": any(_is_non_finite_finding(f.code) for f in report.findings)
        or (isinstance(best_loss, float) and math.isnan(best_loss)),
        "weight_health": {code: len(f.items) or 1 for f in report.findings
                          if (code := f.code) in WEIGHT_HEALTH_CODES},
    }


ReportStatus = Literal["unsafe", "non-finite", "errors", "warnings", "ok"]


class StatusFacts(TypedDict):
    status: ReportStatus
    status_detail: str


def report_status(report: Report, facts: dict[str, Any]) -> StatusFacts:
    """The worst thing about a report (a task row, a compare column), in the order a researcher acts on it."""
    def first(severity: str, codes: tuple[str, ...] = ()) -> Any:
        return next((f for f in report.findings if f.severity == severity
                     and (not codes or f.code.endswith(codes))), None)

    if (found := first("security")) is not None:
        return {"status": "unsafe", "status_detail": found.message}
    if facts["non_finite"]:
        found = next((f for f in report.findings if "non-finite" in f.code or "nan" in f.code), None)
        return {"status": "non-finite", "status_detail": found.message if found else "best loss is NaN"}
    if (found := first("error")) is not None:
        return {"status": "errors", "status_detail": found.message}
    if (found := first("warning")) is not None:
        return {"status": "warnings", "status_detail": found.message}
    return {"status": "ok", "status_detail": ""}


def _is_non_finite_finding(code: str) -> bool:
    """Findings about NaN/inf tensor values (codes chosen by the checkpoint analyses)."""
    lowered = code.lower()
    return "nan" in lowered.split(".")[-1].split("-") or "non-finite" in lowered or "nonfinite" in lowered


def exit_status(findings: Iterable[Finding]) -> int:
    """3 when a finding is a security finding (the input asks to run code when loaded), else 0."""
    return SECURITY_EXIT_STATUS if any(f.severity == "security" for f in findings) else 0
