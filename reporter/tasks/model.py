"""Task-folder report data: the task's checkpoints and loss history next to the model report."""

from __future__ import annotations

from pydantic import Field

from reporter.report.base import ReportModel
from reporter.report.model import Report, ReportMeta
from reporter.report.task import CheckpointEntry, TaskSection

__all__ = ["CheckpointEntry", "IndexRow", "TaskReport", "TaskSection"]


class TaskReport(ReportModel):
    """A task's model report and its task section (kept apart while it is built; rendered as one Report)."""

    task: TaskSection
    report: Report

    def combined(self) -> Report:
        """The model report with the task section attached: what reports/report.{html,md,json} show."""
        return self.report.model_copy(update={"task": self.task})


class IndexRow(ReportModel):
    name: str
    path: str
    report_link: str | None = Field(description="The task's HTML report, relative to the index file")
    architecture: str | None = None
    model_class: str | None = None
    parameters: int | None = None
    best_loss: float | None = None
    epochs: int | None = Field(default=None, description="Epochs completed")
    peak_memory_bytes: int | None = None
    batch_size: int | None = None
    findings: int | None = None
    security_findings: int | None = Field(default=None, description="Findings of severity security (unsafe files)")
    error: str | None = Field(default=None, description="Why this task has no report")


class TaskIndex(ReportModel):
    meta: ReportMeta
    root: str
    rows: list[IndexRow]
