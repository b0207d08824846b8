"""Render the task section (checkpoints, loss history) for each format."""

from __future__ import annotations

import base64
import html

from markupsafe import Markup

from reporter.render import Rendered
from reporter.render.charts import chart_to_svg, unique_ids
from reporter.render.environment import environment
from reporter.report.base import Chart
from reporter.tasks.model import TaskSection


def task_section(task: TaskSection, fmt: str, *, stem: str = "report", embed_images: bool = False) -> Rendered:
    files: dict[str, str] = {}
    if fmt == "html":
        def chart(c: Chart) -> Markup:
            return Markup(f'<figure class="chart" id="chart-{c.id}" role="img" '
                          f'aria-label="{html.escape(c.title)}">{unique_ids(chart_to_svg(c), c.id)}</figure>')

        return Rendered(text=environment(True).get_template("html/task_section.html.j2").render(task=task,
                                                                                               chart=chart))

    def md_chart(c: Chart) -> str:
        svg = chart_to_svg(c)
        if embed_images:
            return f"![{c.title}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})"
        files[f"{stem}_files/{c.id}.svg"] = svg
        return f"![{c.title}]({stem}_files/{c.id}.svg)"

    if fmt == "md":
        text = environment(False).get_template("markdown/task_section.md.j2").render(task=task, chart=md_chart)
        return Rendered(text=text, files=files)
    if fmt == "terminal":
        return Rendered(text=environment(False).get_template("terminal/task_section.txt.j2").render(task=task))
    raise ValueError(f"unknown format {fmt!r}")
