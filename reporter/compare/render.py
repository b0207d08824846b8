"""Render a Comparison (or any side-by-side document) through the compare templates."""

from __future__ import annotations

import base64
import html
import json

from markupsafe import Markup

from reporter.compare.model import Comparison
from reporter.render import Rendered
from reporter.render.charts import chart_to_svg, unique_ids
from reporter.render.environment import environment
from reporter.report.base import Chart


def render_comparison(comparison: Comparison, fmt: str, *, stem: str = "compare",
                      embed_images: bool = False) -> Rendered:
    if fmt == "json":
        return Rendered(text=json.dumps(comparison.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
    if fmt == "html":
        def chart(c: Chart) -> Markup:
            return Markup(f'<figure class="chart" id="chart-{c.id}" role="img" '
                          f'aria-label="{html.escape(c.title)}">{unique_ids(chart_to_svg(c), c.id)}</figure>')

        text = environment(True).get_template("html/compare.html.j2").render(cmp=comparison, chart=chart)
        return Rendered(text=text)
    if fmt == "md":
        files: dict[str, str] = {}

        def md_chart(c: Chart) -> str:
            svg = chart_to_svg(c)
            if embed_images:
                return f"![{c.title}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})"
            files[f"{stem}_files/{c.id}.svg"] = svg
            return f"![{c.title}]({stem}_files/{c.id}.svg)"

        text = environment(False).get_template("markdown/compare.md.j2").render(cmp=comparison, chart=md_chart)
        return Rendered(text=text, files=files)
    if fmt == "terminal":
        return Rendered(text=environment(False).get_template("terminal/compare.txt.j2").render(cmp=comparison))
    raise ValueError(f"unknown format {fmt!r}")
