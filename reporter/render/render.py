"""Render a Report through the Jinja2 templates of one format.

Charts are drawn here from the report's Chart data: inline SVG in HTML, SVG files beside a Markdown
report (or inlined with --embed-images), text bars in the terminal.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

from markupsafe import Markup

from reporter.render.charts import chart_to_svg, unique_ids
from reporter.render.environment import environment
from reporter.render.escape import Safe, fold, md_text, url_path, visible
from reporter.render.flow_mermaid import flow_table_markdown, flow_to_mermaid
from reporter.render.flow_svg import flow_to_svg
from reporter.render.flow_text import flow_to_text
from reporter.report.base import Chart
from reporter.report.model import Report


@dataclass
class Rendered:
    """A rendered document plus the files it refers to (paths relative to the document)."""

    text: str
    files: dict[str, str] = field(default_factory=dict)


def render(report: Report, fmt: str, *, stem: str = "report", embed_images: bool = False,
           verbose: bool = False) -> Rendered:
    if fmt == "json":
        return Rendered(text=to_json(report))
    if fmt == "html":
        return _render_html(report, verbose)
    if fmt == "md":
        return _render_markdown(report, stem, embed_images, verbose)
    if fmt == "terminal":
        return _render_terminal(report, verbose)
    raise ValueError(f"unknown format {fmt!r}")


def to_json(report: Report) -> str:
    """Canonical JSON: the model's field order, two-space indent, non-finite floats as strings."""
    return report.model_dump_json(indent=2) + "\n"


def html_chart(c: Chart) -> Markup:
    """A chart inlined in HTML as SVG (ids prefixed so several charts can share a page)."""
    return Markup('<figure class="chart" id="chart-{}" role="img" aria-label="{}">{}</figure>').format(
        c.id, visible(c.title), Markup(unique_ids(chart_to_svg(c), c.id)))


def markdown_chart(stem: str, embed: bool, files: dict[str, str]) -> Callable[[Chart], Safe]:
    """Charts for Markdown: SVG files in `<stem>_files/` (collected in `files`) or data-URI images."""

    def chart(c: Chart) -> Safe:
        svg = chart_to_svg(c)
        if embed:
            data = base64.b64encode(svg.encode()).decode()
            return Safe(f"![{md_text(c.title)}](data:image/svg+xml;base64,{data})")
        rel = f"{stem}_files/{c.id}.svg"
        files[rel] = svg
        return Safe(f"![{md_text(c.title)}]({url_path(rel)})")

    return chart


def _render_html(report: Report, verbose: bool) -> Rendered:
    template = environment("html").get_template("html/report.html.j2")
    return Rendered(text=template.render(report=report, chart=html_chart, verbose=verbose,
                                         flow_svg=lambda f: Markup(flow_to_svg(f))))


def _render_markdown(report: Report, stem: str, embed: bool, verbose: bool) -> Rendered:
    files: dict[str, str] = {}
    chart = markdown_chart(stem, embed, files)
    template = environment("md").get_template("markdown/report.md.j2")
    text = template.render(report=report, chart=chart, verbose=verbose, flow_mermaid=flow_to_mermaid,
                           flow_table=flow_table_markdown)
    return Rendered(text=text, files=files)


def _render_terminal(report: Report, verbose: bool) -> Rendered:
    template = environment("terminal").get_template("terminal/report.txt.j2")
    return Rendered(text=terminal_document(template.render(report=report, verbose=verbose, flow_text=flow_to_text)))


def terminal_document(text: str) -> str:
    """The finished terminal text: no control character but the line feed reaches the terminal (the
    last line of defence behind the templates' escaping), and no line is wider than 100 columns."""
    return fold(visible(text, newlines=True))
