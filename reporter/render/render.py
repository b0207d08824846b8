"""Render a Report through the Jinja2 templates of one format.

Charts are drawn here from the report's Chart data: inline SVG in HTML, SVG files beside a Markdown
report (or inlined with --embed-images), text bars in the terminal.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass, field

from markupsafe import Markup

from reporter.render.charts import chart_to_svg, unique_ids
from reporter.render.environment import environment
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
    return Markup(f'<figure class="chart" id="chart-{c.id}" role="img" aria-label="{html.escape(c.title)}">'
                  f"{unique_ids(chart_to_svg(c), c.id)}</figure>")


def markdown_chart(stem: str, embed: bool, files: dict[str, str]) -> Callable[[Chart], str]:
    """Charts for Markdown: SVG files in `<stem>_files/` (collected in `files`) or data-URI images."""

    def chart(c: Chart) -> str:
        svg = chart_to_svg(c)
        if embed:
            data = base64.b64encode(svg.encode()).decode()
            return f"![{c.title}](data:image/svg+xml;base64,{data})"
        rel = f"{stem}_files/{c.id}.svg"
        files[rel] = svg
        return f"![{c.title}]({rel})"

    return chart


def _render_html(report: Report, verbose: bool) -> Rendered:
    import markdown

    chart = html_chart

    def prose(text: str | None) -> Markup:
        """User-written text (config description, notes) as Markdown, with any raw HTML escaped."""
        return Markup(markdown.markdown(html.escape(text or ""), extensions=["tables"]))

    def inline(text: str | None) -> Markup:
        """One line of user-facing text with `code` spans, without a wrapping paragraph."""
        rendered = markdown.markdown(html.escape(text or ""))
        return Markup(rendered.removeprefix("<p>").removesuffix("</p>"))

    template = environment(True).get_template("html/report.html.j2")
    return Rendered(text=template.render(report=report, chart=chart, prose=prose, inline=inline, verbose=verbose,
                                         flow_svg=lambda f: Markup(flow_to_svg(f))))


def _render_markdown(report: Report, stem: str, embed: bool, verbose: bool) -> Rendered:
    files: dict[str, str] = {}
    chart = markdown_chart(stem, embed, files)
    template = environment(False).get_template("markdown/report.md.j2")
    text = template.render(report=report, chart=chart, verbose=verbose, flow_mermaid=flow_to_mermaid,
                           flow_table=flow_table_markdown)
    return Rendered(text=text, files=files)


def _render_terminal(report: Report, verbose: bool) -> Rendered:
    template = environment(False).get_template("terminal/report.txt.j2")
    return Rendered(text=template.render(report=report, verbose=verbose, flow_text=flow_to_text))
