"""``analyze_checkpoint``: every checkpoint report section from one :class:`CheckpointFile`."""

from __future__ import annotations

from collections.abc import Callable

from reporter.checkpoint.reader import CheckpointFile
from reporter.checkpoint.sections import (
    config_section,
    early_stopping_summary,
    file_summary,
    foreign_globals,
    optimizer_summary,
    reading_findings,
    scheduler_summary,
    security_findings,
    training_state,
)
from reporter.checkpoint.weights import optimizer_state_findings, weight_health
from reporter.report.checkpoint import CheckpointReport

Progress = Callable[[str, float], None]
SECURITY_EXIT_STATUS = 3


def analyze_checkpoint(ckpt: CheckpointFile, *, progress: Progress | None = None,
                       weights: bool = True) -> CheckpointReport:
    """Build the checkpoint report; weight statistics read tensor data, everything else metadata."""
    health = weight_health(ckpt.state_dict, progress) if weights and ckpt.state_dict else None
    findings = reading_findings(ckpt)
    if health is not None:
        findings += health.findings
    if weights:
        findings += optimizer_state_findings(ckpt.optimizer, list(ckpt.state_dict), progress)
    return CheckpointReport(
        security_findings=security_findings(ckpt),
        file=file_summary(ckpt),  # waits for the background sha256 last, so it overlaps the statistics
        training=training_state(ckpt), config=config_section(ckpt),
        optimizer=optimizer_summary(ckpt), scheduler=scheduler_summary(ckpt),
        early_stopping=early_stopping_summary(ckpt), foreign_globals=foreign_globals(ckpt),
        weight_health=health, findings=findings,
    )


def exit_status(report: CheckpointReport) -> int:
    """3 when the file tried to run code (the report is still written), otherwise 0."""
    return SECURITY_EXIT_STATUS if report.security_findings else 0
