"""Walking the unpickled object graph: find tensors, recognise pickled modules, make plain values.

Every walk is iterative or depth-limited and cycle-safe, because a hostile pickle can nest objects
arbitrarily deep or make them refer to themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeGuard

from reporter.checkpoint.standins import NumpyArray, NumpyDtype, StandIn
from reporter.checkpoint.tensors import TensorRef
from reporter.limits import NESTING, PLAIN_NODES, LimitExceeded
from reporter.safe_repr import short_repr

MAX_DEPTH = NESTING


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield str(key), value
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield str(index), value
    elif isinstance(obj, StandIn):
        for key, value in obj.attributes().items():
            yield str(key), value
        for index, value in enumerate(obj.args):
            yield f"<arg{index}>", value
        for index, value in enumerate(obj.items):
            yield str(index), value
        for key, value in obj.entries.items():
            yield str(key), value


def iter_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, TensorRef]]:
    """Every tensor reachable from ``obj`` with its dotted path (each object visited once)."""
    stack: list[tuple[str, Any, int]] = [(prefix, obj, 0)]
    seen: set[int] = set()
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, TensorRef):
            yield path, item
            continue
        if id(item) in seen or depth > MAX_DEPTH:
            continue
        seen.add(id(item))
        children = list(_children(item))
        for key, value in reversed(children):
            stack.append((f"{path}.{key}" if path else key, value, depth + 1))


def max_depth(obj: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of containers (stops counting at ``limit``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 0)]
    seen: set[int] = set()
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth >= limit or id(item) in seen:
            continue
        seen.add(id(item))
        stack.extend((value, depth + 1) for _, value in _children(item))
    return deepest


def is_module(obj: Any) -> TypeGuard[StandIn]:
    """A stand-in that carries nn.Module's pickled fields (``_parameters``, ``_modules``)."""
    if not isinstance(obj, StandIn):
        return False
    attributes = obj.attributes()
    return "_parameters" in attributes and "_modules" in attributes


def module_state_dict(module: StandIn) -> dict[str, TensorRef]:
    """The state_dict a pickled module would produce, read from its stand-in (nothing imported)."""
    result: dict[str, TensorRef] = {}
    stack: list[tuple[str, Any, int]] = [("", module, 0)]
    seen: set[int] = set()
    while stack:
        prefix, item, depth = stack.pop(0)
        if not is_module(item) or id(item) in seen or depth > MAX_DEPTH:
            continue
        seen.add(id(item))
        attributes = item.attributes()
        skip = attributes.get("_non_persistent_buffers_set") or set()
        for group in ("_parameters", "_buffers"):
            entries = attributes.get(group)
            if isinstance(entries, dict):
                for name, value in entries.items():
                    if isinstance(value, TensorRef) and not (group == "_buffers" and name in skip):
                        result[f"{prefix}{name}"] = value
        children = attributes.get("_modules")
        if isinstance(children, dict):
            for name, child in children.items():
                stack.append((f"{prefix}{name}.", child, depth + 1))
    return result


def module_classes(module: StandIn) -> set[str]:
    """Class paths of a pickled module and of all its submodules."""
    found: set[str] = set()
    stack: list[tuple[Any, int]] = [(module, 0)]
    while stack:
        item, depth = stack.pop()
        if not is_module(item) or item.origin in found and depth > 0 or depth > MAX_DEPTH:
            continue
        found.add(item.origin)
        children = item.attributes().get("_modules")
        if isinstance(children, dict):
            stack.extend((child, depth + 1) for child in children.values())
    return found


def to_plain(obj: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """Plain Python values: stand-ins become dicts (or strings), numpy values become numbers/lists.

    Tensor references are kept as they are; callers decide whether to show shapes or statistics.
    Shared references are expanded (the result is a tree), so the number of values produced is
    bounded by ``limits.PLAIN_NODES``: a "billion laughs" structure ends in a truncation marker.
    """
    if budget is None:
        budget = [PLAIN_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise LimitExceeded(f"a value expands to more than {PLAIN_NODES:,} values (shared references; bound)")
    if depth > MAX_DEPTH:
        return "<nested too deeply>"
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, TensorRef)):
        return obj
    if isinstance(obj, dict):
        return {_plain_key(k, budget): to_plain(v, depth + 1, budget) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(to_plain(v, depth + 1, budget) for v in obj)
    if isinstance(obj, (list, set, frozenset)):
        return [to_plain(v, depth + 1, budget) for v in obj]
    if isinstance(obj, type) and issubclass(obj, StandIn):  # a class itself stored as a value
        return f"<class {obj._record.name}>"
    if isinstance(obj, NumpyArray):
        return obj.value.tolist() if obj.value is not None and obj.value.size <= 10_000 else "<numpy array>"
    if isinstance(obj, NumpyDtype):
        return str(obj.code)
    if isinstance(obj, StandIn):
        attributes = obj.attributes()
        if attributes:
            return {_plain_key(k, budget): to_plain(v, depth + 1, budget) for k, v in attributes.items()}
        if len(obj.args) == 1 and not obj.kwargs:  # Enum members pickle as Class(value)
            value = obj.args[0]
            return value if isinstance(value, (str, int, float, bool)) else short_repr(
                to_plain(value, depth + 1, budget))
        if obj.args:
            shown = ", ".join(short_repr(to_plain(a, depth + 1, budget)) for a in obj.args[:8])
            return short_repr(f"{obj.origin}({shown})")
        return f"<{obj.origin}>"
    if hasattr(obj, "item") and type(obj).__module__ == "numpy":
        return obj.item()
    return str(obj)


def _plain_key(key: Any, budget: list[int]) -> Any:
    return key if isinstance(key, (str, int, float, bool)) or key is None else short_repr(to_plain(key, 0, budget))
