"""Inert objects the safe unpickler builds in place of foreign classes and numpy values.

Nothing here imports or calls anything named by a pickle: a stand-in class only remembers the name it
stands for, the arguments it was "called" with and the state the pickle gave it.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from reporter.limits import CONTAINER_ITEMS, REPR_CHARS
from reporter.safe_repr import short_repr

GlobalKind = Literal["data-holder", "refused-callable", "module-class", "unknown-callable"]
_SIMPLE_DTYPE = re.compile(r"^[<>|=]?[biufcmMSUV?][0-9]{0,6}$")
MAX_CALLS = 20


@dataclass
class GlobalRecord:
    """What the pickle did with one foreign global: how often it named it and how it called it."""

    name: str
    kind: GlobalKind
    references: int = 0
    calls: list[str] = field(default_factory=list)

    def record_call(self, args: tuple, kwargs: dict | None = None) -> None:
        if len(self.calls) >= MAX_CALLS:
            return
        text = ", ".join(short_repr(a) for a in args[:8])
        if kwargs:
            text += ", " + ", ".join(f"{short_repr(k)}={short_repr(v)}" for k, v in list(kwargs.items())[:8])
        self.calls.append(f"{self.name}({text[:REPR_CHARS * 2]})")


class StandIn:
    """Inert instance of a foreign class: remembers constructor arguments and pickled state only."""

    __slots__ = ("args", "kwargs", "state", "items", "entries")
    _record: GlobalRecord
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any
    items: list[Any]
    entries: dict[Any, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> StandIn:
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.items, obj.entries = args, kwargs, None, [], {}
        cls._record.record_call(args, kwargs)
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # arguments were recorded in __new__
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self._grow(1)
        self.items.append(item)

    def extend(self, items: Any) -> None:
        items = list(items) if isinstance(items, (list, tuple)) else []
        self._grow(len(items))
        self.items.extend(items)

    def add(self, item: Any) -> None:
        self.append(item)

    def _grow(self, count: int) -> None:
        if len(self.items) + count > CONTAINER_ITEMS:
            raise pickle.UnpicklingError(f"a {self.origin} holds more than {CONTAINER_ITEMS:,} items (bound)")

    def __setitem__(self, key: Any, value: Any) -> None:
        self.entries[key] = value

    @property
    def origin(self) -> str:
        return type(self)._record.name

    def __repr__(self) -> str:
        return f"<stand-in {self.origin}>"

    bounded_repr = __repr__

    def attributes(self) -> dict[str, Any]:
        """The object's attribute dict as pickled (``__dict__`` state, plus slot state if any)."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
            merged = dict(state[0] or {})
            if isinstance(state[1], dict):
                merged.update(state[1])
            return merged
        return dict(state) if isinstance(state, dict) else {}


class RefusedCall(StandIn):
    """Result of 'calling' a refused global: inert, and itself callable so chains stay inert."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> RefusedCall:
        return type(self)(*args, **kwargs)


def stand_in_class(record: GlobalRecord, refused: bool) -> type[StandIn]:
    """A fresh class standing for one global name (refused ones stay callable and inert)."""
    base = RefusedCall if refused else StandIn
    safe_name = re.sub(r"\W", "_", record.name.rsplit(".", 1)[-1]) or "Global"
    return type(safe_name, (base,), {"__slots__": (), "_record": record, "__module__": "standin"})


class Marker:
    """A named value the pickle may pass around but that builds nothing (``torch.Tensor``, dtypes)."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: Any = None) -> None:
        self.name, self.value = name, value

    def __repr__(self) -> str:
        return f"<{self.name}>"

    bounded_repr = __repr__

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError(f"the pickle sets state on {self.name}")


class NumpyDtype:
    """Stand-in for ``numpy.dtype(...)``: turned into a real dtype only for plain numeric type codes."""

    __slots__ = ("code", "byteorder")

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        self.code = code
        self.byteorder: str | None = None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], str):
            self.byteorder = state[1]

    def __repr__(self) -> str:
        return f"dtype({short_repr(self.code)})"

    bounded_repr = __repr__

    def resolve(self) -> np.dtype:
        if not isinstance(self.code, str) or not _SIMPLE_DTYPE.match(self.code):
            raise pickle.UnpicklingError(f"numpy dtype {short_repr(self.code)} is not a plain numeric type")
        dtype = np.dtype(self.code)
        if self.byteorder == "<":
            dtype = dtype.newbyteorder("<")
        elif self.byteorder == ">":
            dtype = dtype.newbyteorder(">")
        return dtype


class NumpyArray:
    """Stand-in for a pickled ``numpy.ndarray``: rebuilt from raw bytes for plain numeric dtypes."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: np.ndarray | None = None

    def __repr__(self) -> str:
        return "<numpy array>" if self.value is None else f"<numpy array {list(self.value.shape)}>"

    bounded_repr = __repr__

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            return
        _, shape, dtype, fortran, raw = state
        if isinstance(dtype, NumpyDtype) and isinstance(raw, (bytes, bytearray)):
            self.value = array_from_bytes(raw, dtype, shape, "F" if fortran else "C")


def array_from_bytes(raw: bytes | bytearray, dtype: NumpyDtype, shape: Any,
                     order: Literal["C", "F"]) -> np.ndarray:
    """A numpy array over pickled bytes whose shape must account for exactly those bytes."""
    resolved = dtype.resolve()
    if resolved.itemsize == 0 or resolved.hasobject:
        raise pickle.UnpicklingError("numpy array of a zero-size or object dtype")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and 0 <= n for n in shape):
        raise pickle.UnpicklingError("numpy array with a malformed shape")
    count = len(raw) // resolved.itemsize
    expected = 1
    for n in shape:
        expected *= n
        if expected > count:
            break
    if expected != count or len(raw) % resolved.itemsize:
        raise pickle.UnpicklingError("numpy array whose shape does not match its bytes")
    return np.frombuffer(bytes(raw), dtype=resolved).reshape(shape, order=order)
