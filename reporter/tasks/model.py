"""Task-folder report data: the task's checkpoints and loss history next to the model report."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reporter.report.base import ReportModel
from reporter.report.model import Report, ReportMeta
from reporter.report.task import CheckpointEntry, TaskSection

__all__ = ["CheckpointEntry", "IndexRow", "TaskReport", "TaskSection", "TaskStatus"]

TaskStatus = Literal["failed", "unsafe", "non-finite", "errors", "warnings", "ok"]


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
    findings_by_severity: dict[str, int] = Field(default_factory=dict)
    security_findings: int | None = Field(default=None, description="Findings of severity security (unsafe files)")
    status: TaskStatus = Field(
        default="ok", description="the worst thing about the task: no report, an unsafe file, NaN/Inf values, "
        "an error finding, a warning; ok only when none")
    status_detail: str = Field(default="", description="what the status is about, e.g. the first NaN tensor")
    unreadable: list[str] = Field(default_factory=list, description="checkpoints that could not be read")
    error: str | None = Field(default=None, description="Why this task has no report")
    reused: bool = Field(default=False, description="True when the task's written report was reused: its inputs, "
                         "the options and genesis-report are unchanged since it was made")


class TaskIndex(ReportModel):
    meta: ReportMeta
    root: str
    rows: list[IndexRow]
    reused_rows: int = Field(default=0, description="rows whose task report was reused (inputs unchanged)")
    failed_rows: int = Field(description="rows of tasks that could not be reported (their error is in the row)")
