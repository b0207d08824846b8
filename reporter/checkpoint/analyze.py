"""``analyse_checkpoint``: every checkpoint report section from one :class:`CheckpointFile`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reporter.checkpoint.model_check import model_from_checkpoint
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
from reporter.report.checkpoint import CheckpointReport, ModelFromCheckpoint

Progress = Callable[[str, float], None]


_NOT_GIVEN: Any = object()


def analyse_checkpoint(ckpt: CheckpointFile, *, progress: Progress | None = None, weights: bool = True,
                       given_config: Mapping[str, Any] | None = None,
                       genesis_version: str | None = None, given_name: str | None = None,
                       model: ModelFromCheckpoint | None = _NOT_GIVEN,
                       while_hashing: Callable[[list[Any]], None] | None = None) -> CheckpointReport:
    """Build the checkpoint report; weight statistics read tensor data, everything else metadata.

    ``given_config`` is the config passed with ``--config`` (it is used instead of the embedded one for
    what the weights cannot tell); ``genesis_version`` is ``--genesis-version``. ``model`` is the model
    check when the caller made it already (to start the memory trace before the weights are read).
    ``while_hashing`` gets the weight histograms before the file's sha256 is waited for, so that they are
    drawn while the hashing thread finishes (on 2 cores it ran alone for ~1 s after the statistics).
    """
    if model is _NOT_GIVEN:
        model = model_from_checkpoint(ckpt, given_config, genesis_version, given_name)
    health = weight_health(ckpt.state_dict, progress) if weights and ckpt.state_dict else None
    findings = reading_findings(ckpt) + (model.findings if model is not None else [])
    if health is not None:
        findings += health.findings
    if weights:
        findings += optimizer_state_findings(ckpt.optimizer, list(ckpt.state_dict), progress)
    if while_hashing is not None and health is not None:
        while_hashing(list(health.histograms))
    return CheckpointReport(
        security_findings=security_findings(ckpt),
        file=file_summary(ckpt),  # waits for the background sha256 last, so it overlaps the statistics
        training=training_state(ckpt), config=config_section(ckpt), model=model,
        optimizer=optimizer_summary(ckpt), scheduler=scheduler_summary(ckpt),
        early_stopping=early_stopping_summary(ckpt), foreign_globals=foreign_globals(ckpt),
        weight_health=health, findings=findings,
    )
