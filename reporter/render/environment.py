"""The Jinja2 environment shared by every format: template location and display filters.

Filters only *format* values the analyses computed (thousands separators, binary and SI units,
escaping); they never derive new numbers. Escaping is reporter/render/escape.py's job: every value a
template prints is escaped for its format unless a filter already did.
"""

from __future__ import annotations

import base64
import marshal
import math
import types
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from reporter.render import escape
from reporter.text import shape_text


def templates_dir() -> Path:
    """`reporter/templates` in an installed wheel, else the repository's top-level `templates/`."""
    installed = Path(__file__).resolve().parent.parent / "templates"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "templates"


FORMATS = ("html", "md", "terminal")


@cache
def environment(fmt: str, cache: bool = True) -> jinja2.Environment:
    """The environment of one output format. Every ``{{ value }}`` is escaped for that format by default
    (``finalize``); a filter that escapes itself returns :class:`Safe` (Markdown, terminal) or Markup (HTML).
    With ``cache`` (not --no-cache) compiled templates are kept in the analysis cache."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown template format {fmt!r}")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=fmt == "html",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_FINALIZE[fmt],
        bytecode_cache=_CompiledTemplates() if cache else None,
    )
    env.filters.update({
        "num": fmt_int,
        "bytes": fmt_bytes,
        "flops": fmt_flops,
        "pct": fmt_pct,
        "val": fmt_value,
        "sci": fmt_float,
        "shape": shape_text,
        "bar": text_bar,
        "plural": plural,
        "url": escape.url_path,
    })
    if fmt == "html":
        env.filters.update({"inline": escape.html_inline, "prose": escape.html_prose, "depth_px": depth_px,
                            "css_pct": css_pct})
        env.globals.update({"inline": escape.html_inline, "prose": escape.html_prose})
    elif fmt == "md":
        env.filters.update({"code": escape.md_code, "inline": escape.md_inline, "block": _md_block})
    else:
        env.filters.update({
            "ljust": lambda s, n: escape.pad(s, n, cut=False),
            "rjust": lambda s, n: escape.pad(s, n, right=True, cut=False),
            "cell": escape.pad,
            "fit": escape.fit,
            "wrap": escape.wrap,
        })
    return env


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates kept in the analysis cache (reporter.analysis_cache): compiling the report
    templates costs about 0.2 s, a tenth of a warm report. An entry is keyed by the template's name and
    source checksum plus genesis-report's code, Python and jinja2 versions, and verified like every
    analysis-cache entry (private folder, its own key, sha256). It holds the template's marshalled code
    and nothing else (jinja2's own file format pickles the checksum; the key carries it here instead).
    With the cache off, templates are compiled each run."""

    def _key(self, bucket: jinja2.bccache.Bucket) -> str:
        from reporter import analysis_cache

        return analysis_cache.make_key("template", {"bucket": bucket.key, "checksum": bucket.checksum,
                                                    "jinja2": jinja2.__version__})

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        from reporter import analysis_cache

        payload = analysis_cache.load(self._key(bucket))
        if payload is None:
            return
        try:
            code = marshal.loads(base64.b64decode(payload, validate=True))
        except (ValueError, EOFError, TypeError):  # not a compiled template after all: compile the source
            return
        if isinstance(code, types.CodeType):
            bucket.code = code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        from reporter import analysis_cache

        if bucket.code is not None:
            analysis_cache.store(self._key(bucket), base64.b64encode(marshal.dumps(bucket.code)).decode("ascii"))


def _finalize_html(value: Any) -> Any:
    """Control characters shown visibly; autoescape then escapes the markup characters."""
    return value if isinstance(value, Markup) else escape.visible(value)


def _md_block(value: Any) -> escape.Safe | Markup:
    return escape.md_text(value, block=True)


_FINALIZE = {"html": _finalize_html, "md": escape.md_text, "terminal": escape.terminal_text}


def fmt_int(value: Any) -> str:
    """98648 → '98,648' (numbers in reports are exact, so no rounding to 'k'/'M')."""
    if value is None:
        return "—"
    return f"{int(value):,}"


def fmt_bytes(value: Any, digits: int = 2) -> str:
    """Binary units, labelled as such: 394592 → '385.34 KiB' (charts pass ``digits=1``)."""
    if value is None:
        return "—"
    value = float(value)
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= size:
            return f"{value / size:,.{digits}f} {unit}"
    return f"{value:,.0f} B"


def fmt_pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def fmt_float(value: Any) -> str:
    """Short, exact-enough display of a float: integers without decimals, others in %g."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e6:
        return f"{value:.1f}"
    return f"{value:.6g}"


def fmt_value(value: Any) -> str:
    """A config value as a user wrote it in YAML: lists in brackets, None as null, bools lower case."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return fmt_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {fmt_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def text_bar(share: float, width: int = 20) -> str:
    """A fraction 0..1 drawn as a bar of block characters (half-block resolution)."""
    cells = max(0.0, min(1.0, float(share))) * width
    return "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")


def depth_px(depth: int, step: int) -> str:
    """CSS indent of a tree row: 10 px, plus ``step`` px per level of nesting."""
    return f"{10 + step * int(depth)}px"


def css_pct(share: float) -> str:
    """A fraction 0..1 as a CSS width: 0.837 → '83.7%'."""
    return f"{float(share) * 100:.1f}%"


def fmt_flops(value: Any) -> str:
    """Floating-point operations in SI units, three significant figures: 2669401571328 → '2.67 TFLOP'
    (the JSON report keeps the exact integer)."""
    if value is None:
        return "—"
    value = float(value)
    units = (("FLOP", 1.0), ("kFLOP", 1e3), ("MFLOP", 1e6), ("GFLOP", 1e9), ("TFLOP", 1e12), ("PFLOP", 1e15),
             ("EFLOP", 1e18))
    if abs(value) < 1000:
        return f"{value:,.0f} FLOP"
    k = max(i for i, (_, size) in enumerate(units) if abs(value) >= size)
    x = value / units[k][1]
    if round(abs(x)) >= 1000 and k + 1 < len(units):  # 999.6 GFLOP reads as 1.00 TFLOP
        k, x = k + 1, x / 1000
    digits = 2 if abs(x) < 9.995 else 1 if abs(x) < 99.95 else 0
    return f"{x:,.{digits}f} {units[k][0]}"


def plural(count: Any, singular: str, many: str | None = None) -> str:
    """'1 warning', '19 warnings' (the count with thousands separators)."""
    n = int(count)
    return f"{n:,} {singular if n == 1 else (many or singular + 's')}"
