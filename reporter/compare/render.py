"""Render a Comparison (or any side-by-side document) through the compare templates."""

from __future__ import annotations

import json

from reporter.compare.model import Comparison
from reporter.render import Rendered
from reporter.render.environment import environment
from reporter.render.render import html_chart, markdown_chart, terminal_document


def render_comparison(comparison: Comparison, fmt: str, *, stem: str = "compare",
                      embed_images: bool = False) -> Rendered:
    if fmt == "json":
        return Rendered(text=json.dumps(comparison.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
    if fmt == "html":
        text = environment("html").get_template("html/compare.html.j2").render(cmp=comparison, chart=html_chart)
        return Rendered(text=text)
    if fmt == "md":
        files: dict[str, str] = {}
        md_chart = markdown_chart(stem, embed_images, files)
        text = environment("md").get_template("markdown/compare.md.j2").render(cmp=comparison, chart=md_chart)
        return Rendered(text=text, files=files)
    if fmt == "terminal":
        return Rendered(text=terminal_document(
            environment("terminal").get_template("terminal/compare.txt.j2").render(cmp=comparison)))
    raise ValueError(f"unknown format {fmt!r}")
