"""Escaping of untrusted text, one function per output format.

Every string that comes from a checkpoint, a config, a log, a folder or file name is attacker-controlled.
Templates escape every ``{{ value }}`` by default (the Jinja ``finalize`` hook of each format's
environment, see ``environment.py``); what a renderer builds itself is wrapped in :class:`Safe` after it
escaped its parts with the functions here:

- terminal: :func:`terminal_text` shows control characters (ESC, CR, bidi overrides …) visibly;
- Markdown (GitHub-flavoured): :func:`md_text`, :func:`md_code` and :func:`md_inline`;
- HTML: Jinja's autoescape plus :func:`html_inline` / :func:`html_prose` (no user link or image, ever);
- Mermaid labels: :func:`mermaid_label`;
- links built from folder names: :func:`url_path`.

Our own messages (finding texts, notes) mark code with CommonMark code spans (`` `name` ``);
:func:`code_spans` splits them, so every format shows code as code and everything else as plain text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from markupsafe import escape as _html_escape


class Safe(str):
    """Text already escaped for the format being rendered; ``finalize`` passes it through unchanged
    (as it does Markup, which templates get from Jinja's ``safe`` filter, e.g. for a macro's output)."""


# C0 controls except LF (handled by the caller), DEL, C1 controls, the bidi embeddings/overrides/isolates,
# implicit direction marks and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}


def _show(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: Any, *, newlines: bool = False) -> str:
    """Control characters as Python-style escapes (ESC → ``\\x1b``, U+202E → ``\\u202e``), never raw.

    Line feeds stay line feeds only with ``newlines=True`` (blocks the renderer laid out itself)."""
    text = str(value)
    if not newlines:
        text = text.replace("\r\n", "\\r\\n").replace("\n", "\\n")
    return _CONTROL.sub(_show, text)


# ---------------------------------------------------------------- terminal


def terminal_text(value: Any) -> Safe | Markup:
    """One user string for the terminal: nothing in it can move the cursor, recolour or hide text."""
    return value if isinstance(value, (Safe, Markup)) else Safe(visible(value))


def display_width(text: str) -> int:
    """Columns a string takes in a terminal: East Asian wide/fullwidth characters and emoji count 2,
    combining marks and the emoji variation selector count 0."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or ch in "\u200b\u200d\ufe0e\ufe0f":
            continue
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            width += 2
        else:
            width += 1
    # An emoji written as a narrow character plus VS16 (e.g. "⚙️") is drawn two columns wide.
    return width + text.count("\ufe0f")


def fit(value: Any, width: int) -> Safe:
    """At most ``width`` display columns; longer text is cut and ends with an ellipsis."""
    text = visible(value)
    if display_width(text) <= width:
        return Safe(text)
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return Safe("".join(out) + "…")


def pad(value: Any, width: int, right: bool = False, cut: bool = True) -> Safe:
    """A terminal table cell of ``width`` display columns (left- or ``right``-aligned); longer text is cut
    with an ellipsis unless ``cut`` is false (a label that may push the rest of its line to the right)."""
    text = fit(value, width) if cut else visible(value)
    gap = " " * max(0, width - display_width(text))
    return Safe(gap + text if right else text + gap)


def wrap(value: Any, width: int, indent: str = "") -> Safe:
    """Word-wrap text into lines of ``width`` display columns; continuation lines start with ``indent``
    (the width of what precedes the first line, so that the text forms one column)."""
    return Safe(("\n" + indent).join(_fold_words(visible(value), width, width)))


def _fold_words(text: str, first: int, rest: int) -> list[str]:
    """Split at spaces into lines of at most ``first`` (then ``rest``) columns; a longer word is cut."""
    lines: list[str] = []
    line = ""
    limit = first
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if display_width(candidate) <= limit:
            line = candidate
            continue
        if line:
            lines.append(line)
            limit = rest
        while display_width(word) > limit:  # a word wider than the line: cut it
            cut = fit(word, limit + 1)[:-1]
            lines.append(cut)
            word = word[len(cut):]
            limit = rest
        line = word
    lines.append(line)
    return lines


TERMINAL_WIDTH = 100


def fold(text: str, width: int = TERMINAL_WIDTH) -> str:
    """Fold every line of a terminal document wider than ``width`` display columns at spaces; the
    continuation lines are indented four columns deeper than the line they continue."""
    out: list[str] = []
    for line in text.split("\n"):
        if display_width(line) <= width:
            out.append(line)
            continue
        lead = len(line) - len(line.lstrip(" "))
        indent = " " * min(lead + 4, width // 2)
        body = _fold_words(line[lead:], width - lead, width - len(indent))
        out += [" " * lead + body[0]] + [indent + part for part in body[1:]]
    return "\n".join(out)


# ---------------------------------------------------------------- code spans in our own messages


def code_spans(text: str) -> list[tuple[bool, str]]:
    """Split text into (is_code, part) following CommonMark's code-span rule: a run of n backticks opens
    a span that the next run of exactly n backticks closes; an unmatched run is literal text."""
    parts: list[tuple[bool, str]] = []
    plain, i = "", 0
    runs = list(re.finditer(r"`+", text))
    taken = 0
    for k, run in enumerate(runs):
        if run.start() < i:
            continue
        n = len(run.group())
        close = next((r for r in runs[k + 1:] if len(r.group()) == n and r.start() >= run.end()), None)
        if close is None:
            continue
        plain += text[taken:run.start()]
        if plain:
            parts.append((False, plain))
            plain = ""
        inner = text[run.end():close.start()].replace("\n", " ")
        if len(inner) >= 2 and inner[0] == inner[-1] == " " and inner.strip(" "):
            inner = inner[1:-1]
        parts.append((True, inner))
        taken = i = close.end()
    plain += text[taken:]
    if plain:
        parts.append((False, plain))
    return parts


def plain_text(message: Any) -> str:
    """A message with code spans as plain text (the terminal shows code without markers)."""
    return "".join(part for _, part in code_spans(str(message)))


# ---------------------------------------------------------------- Markdown (GitHub-flavoured)

# Backslash-escaped everywhere: emphasis, strikethrough, code, links/images, headings, tables, math.
_MD_ESCAPE = re.compile(r"([\\`*_~\[\]!#|$])")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Extended autolinks (GFM): scheme:// and www. — broken by escaping their punctuation.
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(:)(?=//)|(?<![a-z0-9])(www)(\.)")
# What opens a block when it starts a line: list bullets, ordered-list numbers, setext underlines.
_LINE_START = re.compile(r"^(?:([-+=])(?=[ \t]|$|[-=]+[ \t]*$)|(\d{1,9})([.)])(?=[ \t]|$))")


def _md_line(line: str, start: bool = True) -> str:
    """One line of user text, escaped so that it renders as itself wherever it stands in a line; with
    ``start`` it may also start a line (leading blanks and list or setext markers are neutralised)."""
    indent = ""
    if start:
        stripped = line.lstrip(" \t")
        indent = "&#32;" * (len(line) - len(stripped))  # leading blanks would make an indented code block
        line = stripped
    line = _MD_ESCAPE.sub(r"\\\1", _CONTROL.sub(_show, line))
    line = "".join(_MD_ENTITIES.get(ch, ch) for ch in line)
    line = _AUTOLINK.sub(lambda m: "\\:" if m.group(1) else m.group(2) + "\\.", line)
    if start:
        line = _LINE_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}",
                               line)
    return indent + line


def md_text(value: Any, *, block: bool = False, start: bool = True) -> Safe | Markup:
    """User text as GitHub Markdown that renders as exactly this text: no HTML, emphasis, link, image,
    heading, quote/alert, table cell break, math or autolink can come out of it.

    A line break in the text shows as ``\\n`` (it must not start a new block) unless ``block`` is set, for
    multi-line text placed at the start of a line: then each line is escaped so that it cannot open a
    block, and the lines stay one paragraph's lines (blank lines separate paragraphs). ``start=False``
    is for text that follows other text on its line (it cannot open a block there)."""
    if isinstance(value, (Safe, Markup)):
        return value
    if not block:
        return Safe(_md_line(visible(value), start))
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return Safe("\n".join(_md_line(line) for line in text.split("\n")))


def md_code(value: Any, *, cell: bool = False) -> Safe:
    """User text as a Markdown code span, fenced with more backticks than the longest run inside.

    In a table cell (``cell``) a ``|`` is written ``\\|`` (GFM removes the backslash inside code too)."""
    text = visible(value)
    if cell:
        text = text.replace("|", "\\|")
    if not text:
        return Safe("` `")
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text[0] in "` " or text[-1] in "` ":
        text = f" {text} "
    return Safe(f"{fence}{text}{fence}")


def md_inline(message: Any, *, cell: bool = False) -> Safe:
    """One of our messages (code marked with backticks, user strings inside) as Markdown."""
    if isinstance(message, Safe):
        return message
    return Safe("".join(md_code(part, cell=cell) if is_code else md_text(part, start=i == 0)
                        for i, (is_code, part) in enumerate(code_spans(str(message)))))


# ---------------------------------------------------------------- HTML


def html_inline(message: Any) -> Markup:
    """One of our messages as HTML: code spans become ``<code>``, everything else is escaped text."""
    return Markup("").join(Markup("<code>{}</code>").format(visible(part)) if is_code else _html_escape(visible(part))
                           for is_code, part in code_spans(str(message or "")))


def html_prose(text: Any) -> Markup:
    """Multi-line user text (a config description) as escaped paragraphs; line breaks are kept.

    Never Markdown: user text must not turn into links or images."""
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", str(text or "").replace("\r\n", "\n")) if p.strip()]
    return Markup("").join(
        Markup("<p>{}</p>").format(Markup("<br>").join(html_inline(line) for line in p.strip("\n").split("\n")))
        for p in paragraphs)


# ---------------------------------------------------------------- Mermaid


def mermaid_label(value: Any) -> str:
    """Text inside a quoted Mermaid label: every character Mermaid (or its Markdown strings) would parse
    is written as its entity code (``#34;``), so a label cannot end its quotes, node, line or diagram."""
    text = visible(value)
    return "".join(ch if ch.isalnum() or ch in " .,:-+=/()[]_'" or ord(ch) > 0x7f else f"#{ord(ch)};"
                   for ch in text)


# ---------------------------------------------------------------- links


def url_path(value: Any) -> Safe:
    """A relative link from a path we built (e.g. ``<task folder>/reports/report.html``): every segment is
    percent-encoded (``javascript:x`` → ``javascript%3Ax``), so no folder name can become a scheme, a host,
    a query or a fragment. The result is safe in every format."""
    segments = [s for s in str(value).replace("\\", "/").split("/") if s]  # no '//host' can form
    return Safe("/".join(quote(visible(s), safe="") for s in segments))
