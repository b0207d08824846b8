"""Look at rendered reports as a reader does: Markdown through GitHub's own renderer (cmark-gfm), HTML
through a parser, terminal text by its characters and display width."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import cmarkgfm
from cmarkgfm.cmark import Options

# What a terminal must never receive from a report: C0 controls but the line feed, DEL, C1, bidi controls.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def gfm(markdown: str) -> str:
    """GitHub-flavoured Markdown to HTML with raw HTML kept (UNSAFE), so injected HTML stays visible."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the comments and text outside <style>/<svg>/<script>."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.comments: list[str] = []
        self.text: list[str] = []
        self._skip = 0
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag in ("style", "svg", "script"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "svg", "script") and self._skip:
            self._skip -= 1

    def handle_comment(self, data: str) -> None:
        if not self._skip:  # matplotlib's SVG notes each text as a comment; those are drawn data
            self.comments.append(data)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)

    def count(self, *names: str) -> int:
        return sum(1 for tag, _ in self.tags if tag in names)

    def links(self) -> list[str]:
        return [attrs.get("href", "") for tag, attrs in self.tags if tag == "a"]

    def images(self) -> list[str]:
        return [attrs.get("src", "") for tag, attrs in self.tags if tag == "img"]

    def plain(self) -> str:
        return html.unescape("".join(self.text))


def headings(document: str) -> list[str]:
    """Text of every <h1>…<h6> of an HTML document."""
    return [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", document, re.S)]


def is_own_link(href: str) -> bool:
    """A link the report itself makes: an anchor or a relative path (no scheme, no host)."""
    return href.startswith("#") or not re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|//)", href)
