"""Renderers: turn a Report into terminal text, HTML, Markdown or JSON. They compute nothing."""

from reporter.render.formats import FORMATS, format_for_path
from reporter.render.render import Rendered, render

__all__ = ["FORMATS", "Rendered", "format_for_path", "render"]
