"""Render a TaskIndex: sortable HTML (a few lines of plain JavaScript, allowed by hash), Markdown,
JSON and terminal text."""

from __future__ import annotations

import base64
import hashlib
import json

from markupsafe import Markup

from reporter.render import Rendered
from reporter.render.environment import environment, templates_dir
from reporter.render.render import terminal_document
from reporter.tasks.model import TaskIndex


def render_index(index: TaskIndex, fmt: str) -> Rendered:
    if fmt == "json":
        return Rendered(text=json.dumps(index.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
    if fmt == "html":
        script = (templates_dir() / "html" / "index_sort.js.j2").read_text(encoding="utf-8")
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        text = environment("html").get_template("html/index.html.j2").render(
            index=index, script=Markup(script), script_hash=f"sha256-{digest}")
        return Rendered(text=text)
    if fmt == "md":
        return Rendered(text=environment("md").get_template("markdown/index.md.j2").render(index=index))
    if fmt == "terminal":
        return Rendered(text=terminal_document(
            environment("terminal").get_template("terminal/index.txt.j2").render(index=index)))
    raise ValueError(f"unknown format {fmt!r}")
