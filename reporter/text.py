"""Plain-text forms of values that analyses store in the report model and renderers print, written one way
(standard library only, no escaping: each renderer escapes for its own format)."""

from __future__ import annotations

from collections.abc import Iterable


def shape_text(shape: Iterable[int]) -> str:
    """(512, 2, 5160); a one-dimensional shape keeps Python's trailing comma: (512,)."""
    dims = [str(d) for d in shape]
    return f"({dims[0]},)" if len(dims) == 1 else "(" + ", ".join(dims) + ")"
