"""The Jinja2 environment shared by every format: template location and display filters.

Filters only *format* values the analyses computed (thousands separators, binary units, escaping);
they never derive new numbers.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import jinja2


def templates_dir() -> Path:
    """`reporter/templates` in an installed wheel, else the repository's top-level `templates/`."""
    installed = Path(__file__).resolve().parent.parent / "templates"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "templates"


@cache
def environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update({
        "num": fmt_int,
        "bytes": fmt_bytes,
        "pct": fmt_pct,
        "val": fmt_value,
        "sci": fmt_float,
        "mdcell": md_cell,
        "ljust": lambda s, n: str(s).ljust(n),
        "rjust": lambda s, n: str(s).rjust(n),
        "shape": fmt_shape,
        "bar": text_bar,
    })
    return env


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


def fmt_shape(shape: Any) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def md_cell(value: Any) -> str:
    """Escape text for a GitHub-flavoured Markdown table cell."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def text_bar(share: float, width: int = 20) -> str:
    """A fraction 0..1 drawn as a bar of block characters (half-block resolution)."""
    cells = max(0.0, min(1.0, float(share))) * width
    return "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")
