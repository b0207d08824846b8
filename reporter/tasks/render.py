"""Render the task section (checkpoints, loss history) for each format."""

from __future__ import annotations

from reporter.render import Rendered
from reporter.render.environment import environment
from reporter.render.render import html_chart, markdown_chart, terminal_document
from reporter.tasks.model import TaskSection


def task_section(task: TaskSection, fmt: str, *, stem: str = "report", embed_images: bool = False) -> Rendered:
    files: dict[str, str] = {}
    if fmt == "html":
        return Rendered(text=environment("html").get_template("html/task_section.html.j2").render(task=task,
                                                                                               chart=html_chart))
    md_chart = markdown_chart(stem, embed_images, files)
    if fmt == "md":
        text = environment("md").get_template("markdown/task_section.md.j2").render(task=task, chart=md_chart)
        return Rendered(text=text, files=files)
    if fmt == "terminal":
        return Rendered(text=terminal_document(
            environment("terminal").get_template("terminal/task_section.txt.j2").render(task=task)))
    raise ValueError(f"unknown format {fmt!r}")
