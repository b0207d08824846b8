"""A pickle reader that never executes anything from the file and never exceeds its bounds.

:class:`SafeUnpickler` is Python's own pure-Python unpickler with every way out closed: each global
goes through :func:`allowlist.lookup` (our own builders for what is allowed, an inert recorder — and a
security finding — for everything else; nothing is imported), and every operation that could cost
more than the file is worth is bounded before it runs (see ``reporter.limits``): opcodes executed,
bytes and line lengths read, container sizes, key nesting and hash collisions of dicts and sets,
tensor count, and which objects a ``BUILD`` may set state on. Deep structures never reach C code that
recurses on them (hashing a tuple nested 10^6 deep crashes CPython): a key's nesting is measured
iteratively before it is hashed.
"""

from __future__ import annotations

import collections
import io
import pickle
from collections import Counter
from collections.abc import Callable, Iterable
from typing import IO, Any, BinaryIO

from reporter.checkpoint.allowlist import (
    Builder,
    ParameterType,
    StorageType,
    _rebuild_from_type_for,
    _tensor_builder,
    canonical,
    keyed,
    lookup,
)
from reporter.checkpoint.standins import (
    GlobalKind,
    GlobalRecord,
    NumpyArray,
    NumpyDtype,
    RefusedCall,
    StandIn,
    stand_in_class,
)
from reporter.checkpoint.tensors import StorageRef, TensorRef
from reporter.limits import (
    CONTAINER_ITEMS,
    HASH_COLLISIONS,
    NESTING,
    PICKLE_BYTES,
    PICKLE_LINE,
    PICKLE_OPCODES,
    TENSORS,
)

__all__ = ["BoundedReader", "GlobalRecord", "NumpyArray", "NumpyDtype", "PickleBound", "RefusedCall",
           "SafeUnpickler", "StandIn", "StorageType"]

MAX_FOREIGN = 1_000  # distinct foreign globals listed one by one (the rest are counted)
_NAME_CHARS = 256


def _bounded(text: str) -> str:
    """A global's module or name, cut to ``_NAME_CHARS`` with a visible ellipsis (a real name is shorter)."""
    return text if len(text) <= _NAME_CHARS else text[:_NAME_CHARS - 1] + "…"
# The pure-Python unpickler, whose every opcode we control. Typed Any: its private members (_Unframer,
# pop_mark, dispatch taking our subclass) are not in the standard library's type stubs.
_PICKLE: Any = pickle._Unpickler  # noqa: SLF001
_UNFRAMER: Any = pickle._Unframer  # type: ignore[attr-defined]  # noqa: SLF001


class PickleBound(pickle.UnpicklingError):
    """The pickle asks for more than a documented bound allows (the message names the bound)."""


class BoundedReader:
    """A file view that reads at most ``limit`` bytes from ``start`` and lines of bounded length."""

    def __init__(self, stream: IO[bytes], limit: int = PICKLE_BYTES) -> None:
        self._stream = stream
        self._left = limit
        self._limit = limit

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left:
            if self._left <= 0:
                raise PickleBound(f"the pickle is longer than {self._limit:,} bytes (bound)")
            size = self._left
        data = self._stream.read(size)
        self._left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self) -> bytes:
        data = self._stream.readline(min(PICKLE_LINE, max(self._left, 0)) + 1)
        if len(data) > PICKLE_LINE:
            raise PickleBound(f"a text line of the pickle is longer than {PICKLE_LINE:,} bytes (bound)")
        self._left -= len(data)
        return data

    def tell(self) -> int:
        return self._stream.tell()


class _Stop(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class SafeUnpickler(_PICKLE):
    """Unpickler whose every global is our own builder or an inert recorder, within fixed bounds."""

    dispatch: dict[int, Callable[[Any], None]] = dict(_PICKLE.dispatch)

    def __init__(self, file: BinaryIO | BoundedReader, registry: dict[str, GlobalRecord],
                 storages: dict[str, StorageRef] | None = None,
                 storage_factory: Callable[[str, Any, int], StorageRef] | None = None) -> None:
        if not isinstance(file, (BoundedReader, io.BytesIO)):
            file = BoundedReader(file)  # in-memory pickles were size-checked by whoever read them
        elif isinstance(file, io.BytesIO) and file.getbuffer().nbytes > PICKLE_BYTES:
            raise PickleBound(f"the pickle is longer than {PICKLE_BYTES:,} bytes (bound)")
        super().__init__(file, encoding="utf-8")
        self.registry = registry
        self.storages = storages if storages is not None else {}
        self.storage_factory = storage_factory
        self._classes: dict[str, type[StandIn]] = {}
        self._depths: dict[int, tuple[Any, int]] = {}  # id -> (tuple/frozenset kept alive, nesting)
        self._hashes: dict[int, tuple[Any, Counter]] = {}  # id -> (container kept alive, hash counts)
        self._tensor_builders: dict[bool, Callable[..., TensorRef]] = {}
        self._builder_ids: set[int] = set()  # filled as tensor builders are made (checked by identity)
        self.tensors = 0
        self.opcodes = 0
        self.unlisted = 0
        self.dict_builder = Builder("builtins.dict", keyed(self, dict, "dict"))
        self.rebuild_from_type = _rebuild_from_type_for(self, self._builder_ids)

    # --- the read loop -----------------------------------------------------------------------------

    def load(self) -> Any:
        self._unframer = _UNFRAMER(self._file_read, self._file_readline)
        self.read = self._unframer.read
        self.readinto = self._unframer.readinto
        self.readline = self._unframer.readline
        self.metastack: list[list[Any]] = []
        self.stack: list[Any] = []
        self.append = self.stack.append
        self.proto = 0
        read, dispatch = self.read, self.dispatch
        try:
            while True:
                key = read(1)
                if not key:
                    raise EOFError("the pickle ends before its STOP opcode (truncated)")
                self.opcodes += 1
                if self.opcodes > PICKLE_OPCODES:
                    raise PickleBound(f"the pickle runs more than {PICKLE_OPCODES:,} opcodes (bound)")
                dispatch[key[0]](self)
        except _Stop as stop:
            return stop.value

    def load_stop(self) -> None:
        raise _Stop(self.stack.pop())

    dispatch[pickle.STOP[0]] = load_stop

    # --- globals -------------------------------------------------------------------------------------

    def find_class(self, module: str, name: str) -> Any:
        module, name = canonical(_bounded(str(module)), _bounded(str(name)))
        entry = lookup(module, name)
        if entry is not None:
            if entry.kind is not None:
                self._note(f"{module}.{name}", entry.kind)
            return entry.make(self, module, name)
        return self.stand_in(module, name, "refused-callable")

    def stand_in(self, module: str, name: str, kind: GlobalKind) -> type[StandIn]:
        full = f"{module}.{name}"
        cls = self._classes.get(full)
        if cls is None:
            record = self._note(full, kind)
            cls = self._classes[full] = stand_in_class(record, refused=kind == "refused-callable")
        elif kind == "refused-callable":
            self._note(full, kind)
        return cls

    def _note(self, full: str, kind: GlobalKind) -> GlobalRecord:
        record = self.registry.get(full)
        if record is None:
            if len(self.registry) >= MAX_FOREIGN:
                self.unlisted += 1
                full = "(further globals, not listed one by one)"
                record = self.registry.get(full)
            if record is None:
                record = self.registry[full] = GlobalRecord(full, kind)
        if kind == "refused-callable":
            record.kind = kind
        record.references += 1
        return record

    def get_extension(self, code: int) -> None:
        raise pickle.UnpicklingError("the pickle uses the extension registry (EXT opcodes)")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] in ("storage", b"storage")):
            raise pickle.UnpicklingError("unsupported persistent reference in pickle")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(storage_type, StorageType) or type(numel) is not int or numel < 0:
            raise pickle.UnpicklingError("malformed storage reference in pickle")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views (files of torch before 1.0) are not supported")
        if not isinstance(key, (str, int)) or len(str(key)) > 64:
            raise pickle.UnpicklingError("malformed storage key in pickle")
        key = str(key)
        existing = self.storages.get(key)
        if existing is not None:
            return existing
        if self.storage_factory is None:
            raise pickle.UnpicklingError("pickle references tensor storages but carries none")
        if len(self.storages) >= TENSORS:
            raise PickleBound(f"the pickle references more than {TENSORS:,} storages (bound)")
        storage = self.storage_factory(key, storage_type.dtype, numel)
        self.storages[key] = storage
        return storage

    # --- tensors -----------------------------------------------------------------------------------

    def tensor_builder(self, with_dtype: bool) -> Callable[..., TensorRef]:
        builder = self._tensor_builders.get(with_dtype)
        if builder is None:
            builder = self._tensor_builders[with_dtype] = _tensor_builder(self, with_dtype)
            self._builder_ids.add(id(builder))
        return builder

    def count_tensor(self, ref: TensorRef) -> None:
        self.tensors += 1
        if self.tensors > TENSORS:
            raise PickleBound(f"the pickle holds more than {TENSORS:,} tensors (bound)")

    # --- hashing: nesting and collisions are checked before Python hashes a key --------------------

    def check_keys(self, container: Any, keys: Iterable[Any]) -> None:
        """Refuse keys nested deeper than ``NESTING`` or colliding more than ``HASH_COLLISIONS``."""
        counts = Counter() if container is None else self._counts(container)
        for key in keys:
            if isinstance(key, (tuple, frozenset)):
                self._nesting(key)
            try:
                value = hash(key)
            except TypeError:
                raise pickle.UnpicklingError(f"unhashable {type(key).__name__} used as a key") from None
            counts[value] += 1
            if counts[value] > HASH_COLLISIONS:
                raise PickleBound(f"more than {HASH_COLLISIONS} keys of one dict or set share a hash value "
                                  "(hash flooding; bound)")

    def _counts(self, container: Any) -> Counter:
        entry = self._hashes.get(id(container))
        if entry is None or entry[0] is not container:
            entry = self._hashes[id(container)] = (container, Counter())
        return entry[1]

    def _nesting(self, value: Any) -> int:
        """Nesting of a tuple/frozenset, measured iteratively (each node once), refused past NESTING."""
        cached = self._depths.get(id(value))
        if cached is not None and cached[0] is value:
            return cached[1]
        stack: list[tuple[Any, int, bool]] = [(value, 1, False)]
        while stack:
            node, level, done = stack.pop()
            if level > NESTING:
                raise PickleBound(f"a key is nested more than {NESTING} levels deep (bound)")
            known = self._depths.get(id(node))
            if known is not None and known[0] is node:
                continue
            if done:
                depth = 1 + max((self._depths[id(c)][1] for c in node if isinstance(c, (tuple, frozenset))),
                                default=0)
                self._depths[id(node)] = (node, depth)
                continue
            stack.append((node, level, True))
            stack.extend((child, level + 1, False) for child in node if isinstance(child, (tuple, frozenset)))
        return self._depths[id(value)][1]

    def _sized(self, container: Any, extra: int) -> None:
        try:
            size = len(container)
        except TypeError:
            return
        if size + extra > CONTAINER_ITEMS:
            raise PickleBound(f"a container of the pickle holds more than {CONTAINER_ITEMS:,} items (bound)")

    def load_dict(self) -> None:
        items = self.pop_mark()
        self.check_keys(None, items[0::2])
        self.append({items[i]: items[i + 1] for i in range(0, len(items) - 1, 2)})

    dispatch[pickle.DICT[0]] = load_dict

    def load_setitem(self) -> None:
        value, key = self.stack.pop(), self.stack.pop()
        target = self.stack[-1]
        self._sized(target, 1)
        self.check_keys(target, (key,))
        target[key] = value

    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        self._sized(target, len(items) // 2)
        self.check_keys(target, items[0::2])
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if not isinstance(target, (set, StandIn)):
            raise pickle.UnpicklingError("ADDITEMS on something that is not a set")
        self._sized(target if isinstance(target, set) else target.items, len(items))
        self.check_keys(target, items)
        for item in items:
            target.add(item)

    dispatch[pickle.ADDITEMS[0]] = load_additems

    def load_frozenset(self) -> None:
        items = self.pop_mark()
        self.check_keys(None, items)
        self.append(frozenset(items))

    dispatch[pickle.FROZENSET[0]] = load_frozenset

    def _append_items(self, items: list[Any], opcode: str) -> None:
        """APPEND and APPENDS: add items to the list (or list stand-in) on the stack, within the bound."""
        target = self.stack[-1]
        if isinstance(target, list):
            self._sized(target, len(items))
            target.extend(items)
        elif isinstance(target, StandIn):
            target.extend(items)
        else:
            raise pickle.UnpicklingError(f"{opcode} on something that is not a list")

    def load_appends(self) -> None:
        self._append_items(self.pop_mark(), "APPENDS")

    dispatch[pickle.APPENDS[0]] = load_appends

    def load_append(self) -> None:
        self._append_items([self.stack.pop()], "APPEND")

    dispatch[pickle.APPEND[0]] = load_append

    # --- calls and object creation: only our own builders and stand-ins can be called --------------

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if type(args) is not tuple:
            raise pickle.UnpicklingError("REDUCE with arguments that are not a tuple")
        self.stack[-1] = func(*args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _new(self, cls: Any, args: Any, kwargs: Any = None) -> Any:
        if type(args) is not tuple or not (kwargs is None or type(kwargs) is dict):
            raise pickle.UnpicklingError("object created with arguments that are not a tuple")
        if isinstance(cls, type) and issubclass(cls, StandIn):
            return cls.__new__(cls, *args, **(kwargs or {}))
        if isinstance(cls, (Builder, ParameterType)) or cls in (NumpyArray, NumpyDtype):
            return cls(*args, **(kwargs or {}))
        raise pickle.UnpicklingError(f"the pickle creates an object of {type(cls).__name__}")

    def load_newobj(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self._new(self.stack[-1], args)

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs, args = self.stack.pop(), self.stack.pop()
        self.stack[-1] = self._new(self.stack[-1], args, kwargs)

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _instantiate(self, klass: Any, args: list[Any]) -> None:
        self.append(self._new(klass, tuple(args)))

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, (StandIn, NumpyArray, NumpyDtype, TensorRef, StorageRef)) or hasattr(
                type(inst), "bounded_repr"):
            inst.__setstate__(state)  # stand-ins keep it; tensors, storages and markers refuse it
            return
        if state is None or state == {} or state == ():
            return
        if isinstance(inst, (collections.OrderedDict, Counter)) and isinstance(state, dict) and all(
                type(k) is str for k in state):
            inst.__dict__.update(state)  # e.g. a state_dict's ``_metadata``
            return
        raise pickle.UnpicklingError(f"the pickle sets state on a {type(inst).__name__}")

    dispatch[pickle.BUILD[0]] = load_build


def unpickle_bytes(data: bytes, registry: dict[str, GlobalRecord]) -> Any:
    """Unpickle a small in-memory pickle that may not reference storages (tests, tar members)."""
    return SafeUnpickler(io.BytesIO(data), registry).load()
