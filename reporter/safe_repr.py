"""``short_repr``: the first characters of a value's repr, built lazily within a fixed budget.

``repr(x)[:200]`` builds the whole string first; a "billion laughs" list (each level holds the level
below twice) has 2^40 leaves in a few hundred bytes of pickle or YAML, so its full repr never finishes.
This walks the value iteratively and stops as soon as the budget of characters (or of visited
values) is spent, so its cost is bounded whatever the value's shape or depth.
"""

from __future__ import annotations

from typing import Any

from reporter.limits import REPR_CHARS

_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_OPEN: dict[type, tuple[str, str]] = {
    list: ("[", "]"), tuple: ("(", ")"), set: ("{", "}"), frozenset: ("frozenset({", "})"), dict: ("{", "}")}


def short_repr(value: Any, limit: int = REPR_CHARS) -> str:
    """At most ``limit`` characters of ``repr(value)`` (``...`` marks a cut); never raises."""
    parts: list[str] = []
    size = 0
    budget = 4 * limit  # values visited; each contributes at least one character
    stack: list[Any] = [value]
    while stack and size <= limit and budget > 0:
        item = stack.pop()
        budget -= 1
        if isinstance(item, _Text):
            text = item.text
        elif isinstance(item, _SCALARS):
            text = _scalar(item, limit - size + 4)
        elif type(item) in _OPEN or isinstance(item, dict):
            opening, closing = _OPEN.get(type(item), ("{", "}"))
            if isinstance(item, dict) and type(item) is not dict:
                opening, closing = f"{type(item).__name__}({{", "})"
            text = opening
            children: list[Any] = [_Text(closing)]
            entries = list(_first(item.items() if isinstance(item, dict) else item, limit))
            for index in range(len(entries) - 1, -1, -1):
                entry = entries[index]
                if isinstance(item, dict):
                    children += [entry[1], _Text(": "), entry[0]]
                else:
                    children.append(entry)
                if index:
                    children.append(_Text(", "))
            if type(item) is tuple and len(entries) == 1:
                children.insert(1, _Text(","))
            stack.extend(children)
        else:
            text = _object(item, limit - size + 4)
        parts.append(text)
        size += len(text)
    text = "".join(parts)
    if stack or len(text) > limit:
        return text[: max(limit - 3, 0)] + "..."
    return text


class _Text:
    """Literal punctuation queued on the walk stack."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _first(items: Any, count: int) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if len(out) >= count:
            break
        out.append(item)
    return out


def _scalar(value: Any, room: int) -> str:
    if isinstance(value, (str, bytes)) and len(value) > room:
        return repr(value[:room])[:-1]  # no closing quote: the value goes on
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * room:
        return f"<int of {value.bit_length()} bits>"
    try:
        return repr(value)
    except ValueError:  # ints beyond sys.get_int_max_str_digits()
        return f"<int of {value.bit_length()} bits>"


def _object(value: Any, room: int) -> str:
    """Other objects: their own repr only when it is known to be bounded (stand-ins, numbers)."""
    rep = getattr(type(value), "bounded_repr", None)
    if rep is not None:
        try:
            return str(rep(value))[:room]
        except Exception:  # noqa: BLE001 - a repr must never break a report
            pass
    return f"<{type(value).__name__}>"
