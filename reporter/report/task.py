"""Report section for GENESIS task folders: every checkpoint and the loss history of the training log."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reporter.report.base import Chart, ReportModel

CheckpointKind = Literal["best", "epoch", "early_stop", "final", "other"]


class CheckpointEntry(ReportModel):
    file: str = Field(description="Path relative to the task folder")
    kind: CheckpointKind
    epoch: int | None = Field(description="0-based epoch index (from the checkpoint, else from the file name)")
    best_loss: float | None = Field(default=None, description="Best loss stored in the checkpoint, when read")
    global_step: int | None = None
    size_bytes: int
    reported: bool = Field(description="True for the checkpoint this report describes")
    problem: str | None = Field(default=None, description="Why the file could not be read, when it could not")


class LossEpoch(ReportModel):
    """One epoch of the loss history: the row the formats print."""

    epoch: int
    train_loss: float | None
    val_loss: float | None


class TaskSection(ReportModel):
    name: str
    path: str
    config: str | None = Field(description="config.yaml relative to the task folder, when present")
    checkpoints: list[CheckpointEntry]
    reported_from: str = Field(description="The file the model report was made from")
    unreadable: list[str] = Field(default_factory=list, description="Checkpoints that could not be read (the "
                                  "report falls back to the newest readable one)")
    fingerprint: str | None = Field(default=None, description="sha256 of the task's inputs, the options and "
                                    "genesis-report's code: `index` reuses this report while it is unchanged")
    training_log: str | None
    loss_epochs: list[int] = Field(default_factory=list, description="1-based epochs as the trainer prints them")
    train_loss: list[float | None] = Field(default_factory=list)
    val_loss: list[float | None] = Field(default_factory=list)
    loss_table: list[LossEpoch] = Field(default_factory=list, description="The same history, one row per epoch")
    charts: list[Chart] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
