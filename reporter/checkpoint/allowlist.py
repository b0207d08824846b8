"""The allow-list: every global a checkpoint pickle may name without a security finding.

The security verdict is decided here and only here. A global is safe when it is on this list *by its
exact module and name* — never because its name looks harmless, so ``torch.os.system``,
``pathlib.os.system`` or ``imaplib.IMAP4_stream`` are findings like ``os.system``. The list holds what
``torch.load(weights_only=True)`` itself allows (tensor and storage rebuilds, dtypes, ``OrderedDict``,
``torch.Size``...), plain-data builders torch's documentation names as safe to allow (numpy scalars,
dtypes and arrays), a few inert builtins (``range``, ``set``, ``slice``...), ``pathlib`` paths,
GENESIS's ``config.*Config`` dataclasses (data holders every GENESIS trainer checkpoint contains) and
the ``torch.nn`` module classes of the installed torch (a pickled ``nn.Module``). Each entry is built
by our own code below; nothing named by a pickle is ever imported or called. Every other global
becomes an inert recorder and a security finding (exit 3).
"""

from __future__ import annotations

import _compat_pickle
import collections
import inspect
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from reporter.checkpoint.standins import (
    GlobalKind,
    Marker,
    NumpyArray,
    NumpyDtype,
    StandIn,
    array_from_bytes,
)
from reporter.checkpoint.tensors import STORAGE_DTYPES, StorageRef, TensorRef, element_size
from reporter.limits import CONTAINER_ITEMS, TENSOR_DIMS, VIEW_EXCESS


class Context(Protocol):
    """What builders need from the unpickler: bounds bookkeeping and stand-in classes."""

    dict_builder: Any  # what ``builtins.dict`` resolves to (compared by identity as a base class)
    rebuild_from_type: Callable[..., Any]

    def stand_in(self, module: str, name: str, kind: GlobalKind) -> type[StandIn]: ...
    def tensor_builder(self, with_dtype: bool) -> Callable[..., TensorRef]: ...
    def count_tensor(self, ref: TensorRef) -> None: ...
    def check_keys(self, container: Any, keys: Any) -> None: ...


@dataclass(frozen=True)
class Allowed:
    """One allow-listed global: how to build our own stand-in for it (``make``) and how to list it."""

    make: Callable[[Context, str, str], Any]
    kind: GlobalKind | None = None  # None: torch/builtin internals, not listed among foreign globals


class StorageType(Marker):
    """What ``torch.FloatStorage`` & co. unpickle to: only the dtype matters."""

    __slots__ = ()

    @property
    def dtype(self) -> torch.dtype:
        return self.value


class ParameterType(Marker):
    """``torch.nn.parameter.Parameter`` named as a class: calling it marks a tensor as a parameter."""

    __slots__ = ()

    def __call__(self, data: Any = None, requires_grad: Any = True, *rest: Any) -> Any:
        return _rebuild_parameter(data, requires_grad)


def _fail(message: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(message)


def _sized(values: Any, what: str) -> Any:
    """A concrete, bounded iterable for a builder (``set(range(10**12))`` must not run)."""
    if isinstance(values, (list, tuple, str, bytes, bytearray, set, frozenset, dict, range)):
        try:
            size = len(values)
        except OverflowError:
            size = CONTAINER_ITEMS + 1
        if size > CONTAINER_ITEMS:
            raise _fail(f"the pickle asks for a {what} of {size:,} items (bound: {CONTAINER_ITEMS:,})")
        return values
    raise _fail(f"the pickle builds a {what} from a {type(values).__name__}")


# --- builtins and collections -------------------------------------------------------------------


def keyed(ctx: Context, kind: type, name: str) -> Callable[..., Any]:
    """set/frozenset/dict/OrderedDict/Counter: sizes and key hashes checked before any hashing."""

    def build(*args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) > 1:
            raise _fail(f"unexpected arguments to {name}")
        if not args:
            return kind()
        values = _sized(args[0], name)
        if kind in (dict, collections.OrderedDict) and not isinstance(values, dict):
            pairs = list(values)
            if not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
                raise _fail(f"{name} built from something other than key/value pairs")
            ctx.check_keys(None, [p[0] for p in pairs])
            return kind(pairs)
        ctx.check_keys(None, values.keys() if isinstance(values, dict) else values)
        return kind(values)

    return build


def _sequence(kind: type, name: str) -> Callable[..., Any]:
    def build(*args: Any) -> Any:
        if len(args) > 1:
            raise _fail(f"unexpected arguments to {name}")
        return kind(_sized(args[0], name)) if args else kind()

    return build


def _binary(kind: type) -> Callable[..., Any]:
    """``bytes``/``bytearray`` that refuse an integer size (a pickle could ask for terabytes)."""

    def build(*args: Any) -> Any:
        if not args:
            return kind()
        if isinstance(args[0], int):
            raise _fail(f"pickle asks for a pre-sized {kind.__name__}")
        if isinstance(args[0], str):
            return kind(_sized(args[0], kind.__name__), *[a for a in args[1:2] if a in ("latin1", "utf-8")])
        return kind(_sized(args[0], kind.__name__))

    return build


def _range(*args: Any) -> range:
    if not 1 <= len(args) <= 3 or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        raise _fail("range with arguments that are not integers")
    return range(*args)  # lazy: builders that iterate it check its length first


def _complex(real: Any = 0, imag: Any = 0) -> complex:
    if not all(isinstance(v, (int, float)) for v in (real, imag)):
        raise _fail("complex from something other than numbers")
    return complex(real, imag)


def _slice(*args: Any) -> slice:
    return slice(*args[:3])


def _codecs_encode(text: Any, encoding: Any = "utf-8", *rest: Any) -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise _fail("unexpected _codecs.encode arguments")
    return text.encode(encoding)


def _reconstructor_for(ctx: Context) -> Callable[..., Any]:
    def reconstruct(cls: Any, base: Any, state: Any = None) -> Any:
        """``copyreg._reconstructor(cls, base, state)``: ``object``- or ``dict``-based plain data only."""
        if base is _OBJECT and isinstance(cls, type) and issubclass(cls, StandIn):
            return StandIn.__new__(cls)
        if base is ctx.dict_builder and isinstance(cls, type) and issubclass(cls, StandIn):
            obj = StandIn.__new__(cls)
            if isinstance(state, dict):
                obj.entries.update(state)
            return obj
        if base is ctx.dict_builder and isinstance(cls, Builder):
            return cls(state) if state is not None else cls()
        raise _fail("copyreg._reconstructor of something other than plain data")

    return reconstruct


class Builder:
    """An allow-listed class as the pickle sees it: callable (REDUCE, NEWOBJ), builds our value."""

    __slots__ = ("name", "build")

    def __init__(self, name: str, build: Callable[..., Any]) -> None:
        self.name, self.build = name, build

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.build(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self.name}>"

    bounded_repr = __repr__

    def __setstate__(self, state: Any) -> None:
        raise _fail(f"the pickle sets state on {self.name}")


_OBJECT = Builder("object", lambda *a: _fail_call("object"))


def _fail_call(name: str) -> Any:
    raise _fail(f"the pickle calls {name}() directly")


# --- torch -------------------------------------------------------------------------------------------


def _tensor_builder(ctx: Context, with_dtype: bool) -> Callable[..., TensorRef]:
    def rebuild(storage: Any, storage_offset: Any, size: Any, stride: Any, *rest: Any) -> TensorRef:
        dtype = rest[2] if with_dtype and len(rest) > 2 and isinstance(rest[2], torch.dtype) else None
        ref = checked_tensor(storage, storage_offset, size, stride, dtype)
        if len(rest) >= 1:
            ref.requires_grad = bool(rest[0]) if isinstance(rest[0], bool) else False
        ctx.count_tensor(ref)
        return ref

    return rebuild


def checked_tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: torch.dtype | None) -> TensorRef:
    """A tensor reference whose every element lies inside its storage (else the file is corrupt).

    A tensor may view more elements than its storage holds only through overlapping strides (stride 0
    broadcasts); that excess is bounded (``limits.VIEW_EXCESS``) so a 4-byte storage cannot stand for a
    4 GiB tensor.
    """
    if not isinstance(storage, StorageRef):
        raise _fail("tensor rebuild without a storage reference")
    if not all(isinstance(v, (tuple, list)) for v in (size, stride)) or not isinstance(offset, int):
        raise _fail("tensor with a malformed shape, stride or offset")
    if len(size) > TENSOR_DIMS:
        raise _fail(f"tensor with {len(size)} dimensions (bound: {TENSOR_DIMS})")
    if not all(type(v) is int for v in (*size, *stride)):
        raise _fail("tensor with a malformed shape, stride or offset")
    shape, strides = tuple(size), tuple(stride)
    dtype = dtype or storage.dtype
    limit = 1 << 62
    if (len(shape) != len(strides) or not 0 <= offset < limit
            or any(not 0 <= s < limit for s in shape + strides)):
        raise _fail("tensor with a malformed shape, stride or offset")
    ref = TensorRef(storage, offset, shape, strides, dtype)
    numel = ref.numel
    if numel:
        if storage.nbytes % element_size(dtype):
            raise _fail("tensor whose dtype does not divide its storage")
        capacity = storage.nbytes // element_size(dtype)
        last = offset + sum((n - 1) * st for n, st in zip(shape, strides, strict=True))
        if last >= capacity:
            raise _fail("tensor extends past the end of its storage")
        if numel > capacity + VIEW_EXCESS:
            raise _fail(f"tensor of {numel:,} elements views a storage of {capacity:,} (overlapping strides; "
                        f"bound: {VIEW_EXCESS:,} elements beyond the storage)")
    return ref


def _rebuild_parameter(data: Any, requires_grad: Any = True, *rest: Any) -> Any:
    if not isinstance(data, TensorRef):
        raise _fail("a parameter rebuilt from something other than a tensor")
    data.is_parameter = True
    data.requires_grad = requires_grad is True
    return data


def _rebuild_from_type_for(ctx: Context, tensor_builders: set[int]) -> Callable[..., Any]:
    def rebuild(func: Any, new_type: Any, args: Any, state: Any) -> Any:
        if id(func) not in tensor_builders or not isinstance(args, tuple):
            raise _fail("tensor subclass rebuilt by an unknown function")
        result = func(*args)
        if isinstance(new_type, ParameterType):
            result.is_parameter = True
        elif not (isinstance(new_type, Marker) and new_type.name == "torch.Tensor"):
            raise _fail("tensor rebuilt as a class that is not torch.Tensor or Parameter")
        return result

    return rebuild


def _unsupported(kind: str) -> Callable[..., Any]:
    def rebuild(*args: Any, **kwargs: Any) -> Any:
        raise _fail(f"{kind} tensors are not supported by genesis-report")

    return rebuild


def _size(*args: Any) -> tuple[int, ...]:
    dims = tuple(args[0]) if args and isinstance(args[0], (tuple, list)) else ()
    if len(dims) > TENSOR_DIMS or not all(type(d) is int for d in dims):
        raise _fail("torch.Size of something other than a few integers")
    return dims


# --- numpy ---------------------------------------------------------------------------------------------


def _numpy_scalar(dtype: Any, raw: Any = None) -> Any:
    if not isinstance(dtype, NumpyDtype) or not isinstance(raw, (bytes, bytearray)):
        raise _fail("numpy scalar without a plain dtype and bytes")
    resolved = dtype.resolve()
    if len(raw) != resolved.itemsize:
        raise _fail("numpy scalar whose bytes do not match its dtype")
    return array_from_bytes(raw, dtype, (), "C")[()].item()


def _numpy_reconstruct(cls: Any, shape: Any, typecode: Any) -> NumpyArray:
    return NumpyArray()


def _numpy_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> NumpyArray:
    holder = NumpyArray()
    if isinstance(dtype, NumpyDtype) and isinstance(buf, (bytes, bytearray)):
        holder.value = array_from_bytes(buf, dtype, shape, "F" if order == "F" else "C")
    return holder


def _path(*parts: Any) -> str:
    if not all(isinstance(p, str) for p in parts):
        raise _fail("a path built from something other than strings")
    return "/".join(parts).replace("//", "/") if parts else "."


# --- the table -----------------------------------------------------------------------------------------

GENESIS_CONFIG_CLASSES = ("ExperimentConfig", "ModelConfig", "DiffusionConfig", "DataConfig", "TrainingConfig")
PATH_CLASSES = ("PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath", "Path", "PurePath")
_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
           torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)
_UNSUPPORTED_TENSORS = {"_rebuild_qtensor": "quantized", "_rebuild_sparse_tensor": "sparse",
                        "_rebuild_meta_tensor_no_storage": "meta", "_rebuild_nested_tensor": "nested",
                        "_rebuild_wrapper_subclass": "wrapper-subclass",
                        "_rebuild_device_tensor_from_numpy": "device",
                        "_rebuild_device_tensor_from_cpu_tensor": "device"}


def _const(value: Any) -> Callable[[Context, str, str], Any]:
    return lambda ctx, module, name: value


def _builder(build: Callable[..., Any]) -> Callable[[Context, str, str], Any]:
    return lambda ctx, module, name: Builder(f"{module}.{name}", build)


def _stand_in(kind: GlobalKind) -> Callable[[Context, str, str], Any]:
    return lambda ctx, module, name: ctx.stand_in(module, name, kind)


def _nn_module_classes() -> set[tuple[str, str]]:
    """(module, qualname) of every nn.Module class torch.nn defines in the installed torch."""
    found = set()
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("torch.nn.modules") or module is None:
            continue
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, torch.nn.Module) and value.__module__ == module_name:
                found.add((value.__module__, value.__qualname__))
    return found


def _table() -> dict[tuple[str, str], Allowed]:
    table: dict[tuple[str, str], Allowed] = {}

    def add(module: str, name: str, make: Callable[[Context, str, str], Any], kind: GlobalKind | None = None):
        table[(module, name)] = Allowed(make, kind)

    for name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
        add("torch._utils", name, lambda ctx, m, n: ctx.tensor_builder(False))
    add("torch._utils", "_rebuild_tensor_v3", lambda ctx, m, n: ctx.tensor_builder(True))
    for name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
        add("torch._utils", name, _const(_rebuild_parameter))
    for name, kind in _UNSUPPORTED_TENSORS.items():
        add("torch._utils", name, _const(_unsupported(kind)))
    add("torch._tensor", "_rebuild_from_type_v2", lambda ctx, m, n: ctx.rebuild_from_type)
    add("torch.nn.parameter", "Parameter", _const(ParameterType("torch.nn.parameter.Parameter")))
    add("torch", "Tensor", _const(Marker("torch.Tensor")))
    add("torch", "Size", _builder(_size))
    add("torch", "device", _builder(lambda *a: ":".join(str(x) for x in a[:2])))
    add("torch.serialization", "_get_layout", _builder(lambda *a: Marker("torch layout")))
    for name, dtype in STORAGE_DTYPES.items():
        add("torch", name, _const(StorageType(f"torch.{name}", dtype)))
    add("torch.storage", "UntypedStorage", _const(StorageType("torch.storage.UntypedStorage", torch.uint8)))
    add("torch.storage", "TypedStorage", _const(StorageType("torch.storage.TypedStorage", torch.uint8)))
    for dtype in _DTYPES:
        add("torch", str(dtype).removeprefix("torch."), _const(dtype))
    for scheme in ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
                   "per_channel_affine_float_qparams"):
        add("torch", scheme, _const(Marker(f"torch.{scheme}")))
    add("collections", "OrderedDict", lambda ctx, m, n: Builder("collections.OrderedDict",
                                                                 keyed(ctx, collections.OrderedDict, n)))
    add("collections", "Counter", lambda ctx, m, n: Builder("collections.Counter",
                                                             keyed(ctx, collections.Counter, n)))
    add("_codecs", "encode", _const(_codecs_encode))
    add("copyreg", "_reconstructor", lambda ctx, m, n: _reconstructor_for(ctx))
    add("builtins", "set", lambda ctx, m, n: Builder("builtins.set", keyed(ctx, set, n)))
    add("builtins", "frozenset", lambda ctx, m, n: Builder("builtins.frozenset", keyed(ctx, frozenset, n)))
    add("builtins", "dict", lambda ctx, m, n: ctx.dict_builder)
    add("builtins", "object", _const(_OBJECT))
    add("builtins", "list", _builder(_sequence(list, "list")))
    add("builtins", "tuple", _builder(_sequence(tuple, "tuple")))
    add("builtins", "bytearray", _builder(_binary(bytearray)))
    add("builtins", "bytes", _builder(_binary(bytes)))
    add("builtins", "complex", _builder(_complex))
    add("builtins", "slice", _builder(_slice))
    add("builtins", "range", _builder(_range))
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        add(module, "scalar", _const(_numpy_scalar), "data-holder")
        add(module, "_reconstruct", _const(_numpy_reconstruct), "data-holder")
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        add(module, "_frombuffer", _const(_numpy_frombuffer), "data-holder")
    add("numpy", "dtype", _const(NumpyDtype), "data-holder")
    add("numpy", "ndarray", _const(NumpyArray), "data-holder")
    for module in ("pathlib", "pathlib._local"):
        for name in PATH_CLASSES:
            add(module, name, _const(_path), "data-holder")
    for name in GENESIS_CONFIG_CLASSES:
        add("config", name, _stand_in("data-holder"), "data-holder")
    for module, name in _nn_module_classes():
        add(module, name, _stand_in("module-class"), "module-class")
    return table


ALLOWED = _table()


def canonical(module: str, name: str) -> tuple[str, str]:
    """Python 2 names (protocols 0-2: ``__builtin__``, ``copy_reg``) as Python 3 resolves them."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def lookup(module: str, name: str) -> Allowed | None:
    """The allow-list entry for a global, by exact module and name (None: a security finding)."""
    return ALLOWED.get(canonical(module, name))


__all__ = ["ALLOWED", "Allowed", "Builder", "Context", "ParameterType", "StorageType", "canonical", "checked_tensor",
           "lookup"]
