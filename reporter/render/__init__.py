"""Renderers: turn a report, comparison or task index into terminal text, HTML, Markdown or JSON.
They compute nothing: every number comes from the document's model."""

from reporter.render.formats import FORMATS, format_for_path
from reporter.render.render import Rendered, render_document

__all__ = ["FORMATS", "Rendered", "format_for_path", "render_document"]
