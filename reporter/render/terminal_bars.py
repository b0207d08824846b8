"""Charts for the terminal: one labelled bar per category, drawn with block characters."""

from __future__ import annotations

from reporter.report.base import Chart

_WIDTH = 30


def text_bars(chart: Chart) -> str:
    if chart.kind not in ("bar",) or not chart.series:
        return ""
    values = chart.series[0].values
    peak = max(values) if values else 0.0
    label_width = max((len(c) for c in chart.categories), default=0)
    lines = []
    for name, value in zip(chart.categories, values, strict=True):
        cells = value / peak * _WIDTH if peak else 0.0
        bar = "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")
        lines.append(f"   {name.ljust(label_width)}  {bar}")
    return "\n".join(lines)
