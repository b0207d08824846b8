"""Building blocks shared by every report section.

All report objects derive from :class:`ReportModel` so that the whole report serialises to JSON and
has a JSON Schema. Charts are *data* (a :class:`Chart`): analyses decide what to plot, renderers draw it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReportModel(BaseModel):
    """Base for every report object: strict about unknown fields, serialisable to JSON."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")


class Severity(StrEnum):
    """How much a finding matters; `security` findings are shown first and change the exit status."""

    info = "info"
    warning = "warning"
    error = "error"
    security = "security"


class Finding(ReportModel):
    """Something a user should know about the input: a problem, a difference, an assumption."""

    severity: Severity
    code: str = Field(description="Stable machine-readable identifier, e.g. 'config.unknown-key'")
    message: str
    where: str | None = Field(default=None, description="File, key path or tensor name it refers to")
    items: list[str] = Field(default_factory=list, description="Every tensor or key a grouped finding covers")


class Series(ReportModel):
    """One named series of values for a chart (one bar group, one line, one stack layer).

    For line charts a series may carry its own ``x`` (else the chart's) and a ``style``: a solid line with
    markers, a dashed line (values that were not measured or traced), or markers only.
    """

    name: str
    values: list[float]
    x: list[float] | None = None
    style: Literal["line", "dashed", "points"] = "line"


class Chart(ReportModel):
    """A chart described as data; the renderer turns it into SVG.

    kind:
      - ``bar``: horizontal bars, one per category (first series used).
      - ``stacked_bar``: one bar per category, series stacked.
      - ``grouped_bar``: one group per category, one bar per series.
      - ``line``: x values in ``x``, one line per series; optional horizontal ``threshold``.
      - ``histogram``: ``x`` holds bin edges (len = len(values)+1) of the first series.
    """

    id: str = Field(description="File-name-safe identifier, unique within a report")
    title: str
    kind: Literal["bar", "stacked_bar", "grouped_bar", "line", "histogram"]
    categories: list[str] = Field(default_factory=list)
    x: list[float] = Field(default_factory=list)
    series: list[Series]
    x_label: str = ""
    y_label: str = ""
    unit: str = ""
    log_y: bool = False
    threshold: float | None = None
    threshold_label: str = ""
    shares: list[float] = Field(default_factory=list, description="bar: each bar's fraction of the sum, printed "
                                "beside its value (empty: no shares printed)")
    totals: list[float] = Field(default_factory=list, description="stacked_bar: each bar's total (the sum of its "
                                "series), printed at its end (empty: no totals printed)")
