"""Render a document (a report, a comparison, a task index) through the Jinja2 templates of one format.

Charts are drawn here from the report's Chart data: inline SVG in HTML, SVG files beside a Markdown
report (or inlined with --embed-images), text bars in the terminal.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from markupsafe import Markup

from reporter.render.charts import chart_to_svg, unique_ids
from reporter.render.environment import environment, templates_dir
from reporter.render.escape import Safe, fold, md_text, url_path, visible
from reporter.render.flow_mermaid import flow_to_mermaid
from reporter.render.flow_svg import flow_to_svg
from reporter.render.flow_text import flow_to_text
from reporter.report.base import Chart, ReportModel


@dataclass
class Rendered:
    """A rendered document plus the files it refers to (paths relative to the document)."""

    text: str
    files: dict[str, str] = field(default_factory=dict)


Kind = Literal["report", "compare", "index"]


@dataclass(frozen=True)
class _Document:
    """How one kind of document is rendered: its templates and the name the templates read it by."""

    template: str  # <format folder>/<template>.<suffix>.j2
    variable: str
    json: Callable[[ReportModel], str]


def to_json(report: ReportModel) -> str:
    """Canonical JSON: the model's field order, two-space indent, non-finite floats as strings."""
    return report.model_dump_json(indent=2) + "\n"


def _plain_json(document: ReportModel) -> str:
    """Comparisons and indexes: Python's JSON writer (their numbers print as Python prints them)."""
    return json.dumps(document.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


_DOCUMENTS: dict[str, _Document] = {
    "report": _Document("report", "report", to_json),  # a config, checkpoint or task-folder report
    "compare": _Document("compare", "cmp", _plain_json),
    "index": _Document("index", "index", _plain_json),
}
_TEMPLATE_FILES = {"html": ("html", "html"), "md": ("markdown", "md"), "terminal": ("terminal", "txt")}


def render_document(kind: Kind, model: ReportModel, fmt: str, *, stem: str | None = None,
                    embed_images: bool = False, verbose: bool = False, cache: bool = True) -> Rendered:
    """The one way every command renders: ``kind`` picks the templates, ``fmt`` the format.

    ``stem`` names a Markdown document's chart folder (`<stem>_files/`; default: the kind); ``cache``
    False (--no-cache) keeps chart drawings and compiled templates out of the analysis cache.
    """
    document = _DOCUMENTS[kind]
    if fmt == "json":
        return Rendered(text=document.json(model))
    if fmt not in _TEMPLATE_FILES:
        raise ValueError(f"unknown format {fmt!r}")
    folder, suffix = _TEMPLATE_FILES[fmt]
    files: dict[str, str] = {}
    helpers = _helpers(fmt, kind, stem or kind, embed_images, files, cache)
    template = environment(fmt, cache).get_template(f"{folder}/{document.template}.{suffix}.j2")
    text = template.render({document.variable: model, "verbose": verbose, **helpers})
    return Rendered(text=terminal_document(text) if fmt == "terminal" else text, files=files)


def _helpers(fmt: str, kind: str, stem: str, embed_images: bool, files: dict[str, str],
             cache: bool = True) -> dict[str, Any]:
    """What the templates of one format call to draw: charts, the data-flow diagram, the index's script."""
    if fmt == "html":
        helpers: dict[str, Any] = {"chart": lambda c: html_chart(c, cache),
                                   "flow_svg": lambda f: Markup(flow_to_svg(f))}
        if kind == "index":
            helpers.update(index_script())
        return helpers
    if fmt == "md":
        return {"chart": markdown_chart(stem, embed_images, files, cache), "flow_mermaid": flow_to_mermaid}
    return {"flow_text": flow_to_text}


@cache
def index_script() -> dict[str, Any]:
    """The index page's sorting script (a few lines of plain JavaScript) and its hash for the page's
    Content-Security-Policy, which allows that script and nothing else."""
    script = (templates_dir() / "html" / "index_sort.js.j2").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return {"script": Markup(script), "script_hash": f"sha256-{digest}"}


def html_chart(c: Chart, cache: bool = True) -> Markup:
    """A chart inlined in HTML as SVG (ids prefixed so several charts can share a page)."""
    return Markup('<figure class="chart" id="chart-{}" role="img" aria-label="{}">{}</figure>').format(
        c.id, visible(c.title), Markup(unique_ids(chart_to_svg(c, cache), c.id)))


def markdown_chart(stem: str, embed: bool, files: dict[str, str], cache: bool = True) -> Callable[[Chart], Safe]:
    """Charts for Markdown: SVG files in `<stem>_files/` (collected in `files`) or data-URI images."""

    def chart(c: Chart) -> Safe:
        svg = chart_to_svg(c, cache)
        if embed:
            data = base64.b64encode(svg.encode()).decode()
            return Safe(f"![{md_text(c.title)}](data:image/svg+xml;base64,{data})")
        rel = f"{stem}_files/{c.id}.svg"
        files[rel] = svg
        return Safe(f"![{md_text(c.title)}]({url_path(rel)})")

    return chart


def terminal_document(text: str) -> str:
    """The finished terminal text: no control character but the line feed reaches the terminal (the
    last line of defence behind the templates' escaping), and no line is wider than 100 columns."""
    return fold(visible(text, newlines=True))
