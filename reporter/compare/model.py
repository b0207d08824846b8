"""A comparison of several reports, as typed data (renderers only read it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reporter.report.base import Chart, ReportModel
from reporter.report.model import JsonValue, ReportMeta

InputKind = Literal["config", "checkpoint", "report", "task"]
RowUnit = Literal["", "count", "bytes", "flops", "loss"]


class CompareColumn(ReportModel):
    """One compared input."""

    label: str = Field(description="Short unique name used as the column heading")
    path: str
    kind: InputKind
    title: str
    model_class: str
    architecture: str
    batch_size: int | None
    target: str | None


class CompareRow(ReportModel):
    key: str
    values: list[JsonValue] = Field(description="One value per column; null where the input has no value")
    differs: bool
    unit: RowUnit = ""


class CompareTable(ReportModel):
    id: str
    title: str
    note: str = ""
    rows: list[CompareRow]


class Comparison(ReportModel):
    """Several models side by side: differing config keys, parameters, memory/FLOPs, checkpoint facts."""

    meta: ReportMeta
    title: str
    columns: list[CompareColumn]
    tables: list[CompareTable]
    charts: list[Chart]
    notes: list[str] = Field(default_factory=list, description="Caveats, e.g. reports made at other batch sizes")
