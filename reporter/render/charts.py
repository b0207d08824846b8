"""Draw report charts (`Chart` data) as SVG with matplotlib.

Output is deterministic: fixed hash salt for element ids, no date metadata, text kept as text
(`svg.fonttype = none`) so the SVG stays small and selectable. Charts are drawn on a white card so
they read the same in light and dark pages and as standalone files beside a Markdown report.
"""

from __future__ import annotations

import io
import re
from functools import cache, lru_cache

from reporter.render.environment import fmt_bytes
from reporter.render.escape import visible
from reporter.report.base import Chart

PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
           "#CCB974", "#64B5CD")


@cache
def _pyplot():
    """Import matplotlib lazily (it is the slowest import after torch) and pin SVG settings."""
    import matplotlib

    matplotlib.use("svg", force=True)
    matplotlib.rcParams.update({
        "svg.hashsalt": "genesis-report",
        "svg.fonttype": "none",
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
    })
    import matplotlib.pyplot as plt

    return plt


def chart_to_svg(chart: Chart, cache: bool = True) -> str:
    """Render one chart to an SVG document string.

    Drawing is the slow part of rendering (importing matplotlib alone takes about 0.9 s), and runs often
    draw the same charts again (a task folder's report.html and report.md, ``-o r.html -o r.md``, a second
    report on an unchanged input), so drawings are remembered by the chart's content: in this process, and
    in the analysis cache (reporter.analysis_cache, keyed by the chart's data and genesis-report's code;
    off with ``cache=False`` (--no-cache) or GENESIS_REPORT_NO_CACHE=1).
    """
    return _drawn(chart.model_dump_json(), cache)


def _cached_drawing(chart_json: str) -> str:
    from reporter import analysis_cache

    key = analysis_cache.make_key("chart", {"chart": chart_json, "matplotlib": _matplotlib_version()})
    svg = analysis_cache.load(key)
    if svg is None:
        svg = _draw(chart_json)
        analysis_cache.store(key, svg)
    return svg


def _matplotlib_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("matplotlib")
    except metadata.PackageNotFoundError:
        return "absent"


@lru_cache(maxsize=64)
def _drawn(chart_json: str, cache: bool) -> str:
    return _cached_drawing(chart_json) if cache else _draw(chart_json)


def _draw(chart_json: str) -> str:
    chart = _as_plain_text(Chart.model_validate_json(chart_json))
    plt = _pyplot()
    drawer = {
        "bar": _bar,
        "stacked_bar": _stacked_bar,
        "grouped_bar": _grouped_bar,
        "line": _line,
        "histogram": _histogram,
    }[chart.kind]
    fig = drawer(plt, chart)
    fig.suptitle(chart.title, fontsize=10, fontweight="bold", x=0.01, ha="left")
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return _strip_preamble(buffer.getvalue())


def _mpl_text(text: str) -> str:
    """Text matplotlib draws as written: a '$' would start mathtext (and a bad formula, e.g. a tensor
    named '$\\frac$', raises), control characters are shown visibly. SVG escaping is matplotlib's."""
    return visible(text).replace("$", r"\$")


def _as_plain_text(chart: Chart) -> Chart:
    """The chart with every label (names may come from a checkpoint) made plain text for matplotlib."""
    return chart.model_copy(update={
        "title": _mpl_text(chart.title), "categories": [_mpl_text(c) for c in chart.categories],
        "series": [s.model_copy(update={"name": _mpl_text(s.name)}) for s in chart.series],
        "x_label": _mpl_text(chart.x_label), "y_label": _mpl_text(chart.y_label),
        "threshold_label": _mpl_text(chart.threshold_label)})


def _strip_preamble(svg: str) -> str:
    """Drop the XML declaration, DOCTYPE and metadata so the SVG can be inlined in HTML as well."""
    svg = svg[svg.find("<svg"):]
    # matplotlib's RDF metadata block only names namespaces; it carries nothing a reader needs.
    return re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)


def unique_ids(svg: str, prefix: str) -> str:
    """Prefix every id (and its references) so several inline SVGs can share one page."""
    ids = set(re.findall(r'id="([^"]+)"', svg))
    for old in sorted(ids, key=len, reverse=True):
        svg = svg.replace(f'id="{old}"', f'id="{prefix}-{old}"')
        svg = svg.replace(f"#{old})", f"#{prefix}-{old})").replace(f'"#{old}"', f'"#{prefix}-{old}"')
    return svg


def _fmt(value: float, unit: str) -> str:
    if unit == "bytes":
        return fmt_bytes(value, digits=1)
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _bar(plt, chart: Chart):
    values = chart.series[0].values
    n = len(values)
    fig, ax = plt.subplots(figsize=(7.2, 0.8 + 0.32 * max(n, 1)))
    positions = list(range(n))[::-1]
    ax.barh(positions, values, color=PALETTE[0], height=0.65)
    ax.set_yticks(positions, labels=chart.categories)
    peak = max(values) if values else 0.0
    shares: list[float | None] = list(chart.shares) or [None] * n  # each bar's share, from the analysis
    for y, v, share in zip(positions, values, shares, strict=True):
        label = _fmt(v, chart.unit) + (f" ({share:.1%})" if share is not None else "")
        ax.text(v + peak * 0.01, y, label, va="center", fontsize=8)
    ax.set_xlim(0, peak * 1.32 if peak else 1)
    ax.set_xlabel(chart.x_label)
    ax.xaxis.set_major_formatter(_formatter(chart.unit))
    if chart.log_y:
        ax.set_xscale("log")
    return fig


def _stacked_bar(plt, chart: Chart):
    fig, ax = plt.subplots(figsize=(7.2, 1.2 + 0.45 * max(len(chart.categories), 1)))
    positions = list(range(len(chart.categories)))[::-1]
    ends = [0.0] * len(chart.categories)
    for i, series in enumerate(chart.series):
        ax.barh(positions, series.values, left=ends, color=PALETTE[i % len(PALETTE)], height=0.6, label=series.name)
        ends = [start + width for start, width in zip(ends, series.values, strict=True)]
    totals: list[float | None] = list(chart.totals) or [None] * len(ends)  # each bar's total, from the analysis
    for y, end, total in zip(positions, ends, totals, strict=True):
        if total is not None:
            ax.text(end * 1.01, y, _fmt(total, chart.unit), va="center", fontsize=8)
    ax.set_yticks(positions, labels=chart.categories)
    top = max([*ends, chart.threshold or 0.0]) * 1.25 or 1
    ax.set_xlim(0, top)
    if chart.threshold is not None:
        ax.axvline(chart.threshold, color="#C44E52", linestyle="--", linewidth=1)
    _value_axis(ax.xaxis, chart.unit, top)
    ax.set_xlabel(chart.x_label)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=4, frameon=False, fontsize=8)
    return fig


def _grouped_bar(plt, chart: Chart):
    n_series = max(len(chart.series), 1)
    fig, ax = plt.subplots(figsize=(7.2, 1.0 + 0.28 * len(chart.categories) * n_series))
    height = 0.8 / n_series
    base = list(range(len(chart.categories)))[::-1]
    for i, series in enumerate(chart.series):
        ys = [b + 0.4 - height * (i + 0.5) for b in base]
        ax.barh(ys, series.values, height=height * 0.92, color=PALETTE[i % len(PALETTE)], label=series.name)
    ax.set_yticks(base, labels=chart.categories)
    ax.xaxis.set_major_formatter(_formatter(chart.unit))
    ax.set_xlabel(chart.x_label)
    ax.legend(frameon=False, fontsize=8)
    return fig


_STYLES = {"line": {"linestyle": "-", "marker": "o", "markersize": 3},
           "dashed": {"linestyle": "--", "marker": "o", "markersize": 3, "markerfacecolor": "white"},
           "points": {"linestyle": "none", "marker": "o", "markersize": 6}}


def _line(plt, chart: Chart):
    """Lines on linear axes unless the chart asks for a log y axis; a threshold is labelled with its value."""
    fig, ax = plt.subplots(figsize=(7.2, 3.4))
    top = 0.0
    for i, series in enumerate(chart.series):
        xs = series.x if series.x is not None else chart.x[: len(series.values)]
        ax.plot(xs, series.values, color=PALETTE[i % len(PALETTE)], label=series.name, **_STYLES[series.style])
        top = max([top, *series.values])
    if chart.threshold is not None:
        label = f"{chart.threshold_label}: {_fmt(chart.threshold, chart.unit)}".lstrip(": ")
        ax.axhline(chart.threshold, color="#C44E52", linestyle="--", linewidth=1, label=label)
        top = max(top, chart.threshold)
    if chart.log_y:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_formatter(chart.unit))
    else:
        ax.set_ylim(0, top * 1.08 or 1)
        _value_axis(ax.yaxis, chart.unit, top * 1.08 or 1)
    ax.set_xlim(left=0)
    ax.set_xlabel(chart.x_label)
    unit_words = [w for w in ("log scale" if chart.log_y else "", "bytes" if chart.unit == "bytes" else "") if w]
    ax.set_ylabel(chart.y_label + (f" ({', '.join(unit_words)})" if unit_words else ""))
    ax.grid(alpha=0.3)
    if len(chart.series) > 1 or chart.threshold is not None:  # below the plot: never over a line
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), frameon=False, fontsize=8)
    return fig


def _histogram(plt, chart: Chart):
    """One filled step outline (a single artist: far faster to draw and smaller than a bar per bin)."""
    fig, ax = plt.subplots(figsize=(7.2, 2.6))
    ax.stairs(chart.series[0].values, chart.x, fill=True, color=PALETTE[0], alpha=0.85)
    if chart.log_y:
        ax.set_yscale("log")
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)
    return fig


_BINARY_UNITS = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10), ("B", 1))
_BINARY_STEPS = (1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def _value_axis(axis, unit: str, top: float) -> None:
    """Bytes tick at round binary values (0, 4, 8, 12 GiB; 0, 1, 2, 3 TiB); other units as before."""
    if unit != "bytes" or top <= 0:
        axis.set_major_formatter(_formatter(unit))
        return
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    name, size = next((n, s) for n, s in _BINARY_UNITS if top >= s)
    step = next((s for s in _BINARY_STEPS if top / size / s <= 6), _BINARY_STEPS[-1])
    axis.set_major_locator(MultipleLocator(step * size))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / size:g} {name}" if v else "0"))


def _formatter(unit: str):
    """Axis ticks are compact (20M, 1.5 GiB); the exact values are printed on the bars and in tables."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: _tick(v, unit))


def _tick(value: float, unit: str) -> str:
    if unit == "bytes":
        return fmt_bytes(value, digits=1)
    for suffix, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"
