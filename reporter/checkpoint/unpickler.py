"""A pickle reader that never executes anything from the file.

Every global the pickle names goes through :meth:`SafeUnpickler.find_class`, which never imports
anything: torch's tensor-rebuild functions are replaced by our own that build :class:`TensorRef`
objects, a few plain data builders (OrderedDict, set, bytes via ``_codecs.encode``, numpy scalars and
arrays, pathlib paths) are rebuilt by our own code, and every other name becomes an inert generated
class. Calling such a class only records the arguments. Names of code-running callables (``os.system``,
``eval``, ``subprocess.*``...) are recorded as refused so the report can show them as a security finding.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from reporter.checkpoint.tensors import STORAGE_DTYPES, StorageRef, TensorRef

GlobalKind = Literal["data-holder", "refused-callable", "module-class", "unknown-callable"]

# Modules whose callables can run code, touch files or the network, or load more code.
DANGEROUS_MODULES = {
    "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "importlib", "runpy", "pickle",
    "_pickle", "cPickle", "sys", "shutil", "socket", "ctypes", "code", "codeop", "pty", "webbrowser",
    "marshal", "types", "functools", "operator", "timeit", "pdb", "bdb", "platform", "multiprocessing",
    "asyncio", "requests", "urllib", "urllib2", "http", "httplib", "ftplib", "smtplib", "telnetlib",
    "tempfile", "io", "_io", "site", "inspect", "threading", "_thread", "signal", "glob", "gc",
    "commands", "popen2", "dill", "joblib", "cloudpickle", "shelve", "zipimport", "imp", "pkgutil",
    "_posixsubprocess", "posixpath", "ntpath", "fileinput", "linecache", "distutils", "setuptools",
    "pip", "venv", "ensurepip", "torch.hub", "torch.serialization", "torch.jit", "torch.ops",
    "torch._C", "torch.utils.cpp_extension", "torch.package", "numpy.testing", "numpy.f2py",
    "numpy.distutils", "numpy.lib.npyio", "numpy.load", "copyreg_unsafe", "_operator", "_functools",
}
DANGEROUS_NAMES = {
    "eval", "exec", "compile", "system", "popen", "__import__", "getattr", "setattr", "delattr",
    "open", "execfile", "spawn", "run", "call", "check_call", "check_output", "Popen", "load", "loads",
    "import_module", "run_path", "run_module", "apply", "globals", "locals", "vars", "input",
    "breakpoint", "remove", "unlink", "rmtree", "rmdir", "kill", "fork", "execv", "execve",
    "execl", "execvp", "startfile", "attrgetter", "methodcaller", "partial", "reduce",
}
def _sized(kind: type) -> Any:
    """``bytes``/``bytearray`` that refuse an integer size (a pickle could ask for terabytes)."""

    def build(*args: Any) -> Any:
        if args and isinstance(args[0], int):
            raise pickle.UnpicklingError(f"pickle asks for a pre-sized {kind.__name__}")
        return kind(*args)

    return build


SAFE_BUILTINS = {"set": set, "frozenset": frozenset, "bytearray": _sized(bytearray), "complex": complex,
                 "slice": slice, "bytes": _sized(bytes)}  # no range: set(range(10**12)) is a bomb
PATH_CLASSES = {"PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath", "Path", "PurePath"}
_SIMPLE_DTYPE = re.compile(r"^[<>|=]?[biufcmMSUV?][0-9]*$")
_REPR_LIMIT = 200


def is_dangerous(module: str, name: str) -> bool:
    """Whether a global names a callable that can run code (judged by name only, never imported)."""
    root = module.split(".")[0]
    if module == "builtins" or module == "__builtin__":
        return name not in SAFE_BUILTINS
    if module in DANGEROUS_MODULES or root in DANGEROUS_MODULES:
        return True
    if any(module.startswith(prefix + ".") for prefix in DANGEROUS_MODULES):
        return True
    return name in DANGEROUS_NAMES


@dataclass
class GlobalRecord:
    """What the pickle did with one foreign global: how often it named it and how it called it."""

    name: str
    kind: GlobalKind
    references: int = 0
    calls: list[str] = field(default_factory=list)

    def record_call(self, args: tuple, kwargs: dict | None = None) -> None:
        text = ", ".join(_short_repr(a) for a in args)
        if kwargs:
            text += ", " + ", ".join(f"{k}={_short_repr(v)}" for k, v in kwargs.items())
        if len(self.calls) < 20:
            self.calls.append(f"{self.name}({text})")


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a stand-in's repr must never break the report
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


class StandIn:
    """Inert instance of a foreign class: remembers constructor arguments and pickled state only."""

    __slots__ = ("args", "kwargs", "state", "items", "entries")
    _record: GlobalRecord

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
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def add(self, item: Any) -> None:
        self.items.append(item)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.entries[key] = value

    @property
    def origin(self) -> str:
        return type(self)._record.name

    def __repr__(self) -> str:
        return f"<stand-in {self.origin}>"

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
    """Result of 'calling' a refused callable: inert, and itself callable so chains stay inert."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> RefusedCall:
        return type(self)(*args, **kwargs)


class _StorageType:
    """What ``torch.FloatStorage`` & co. unpickle to: only the dtype matters."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _ParameterType:
    """Marker for ``torch.nn.parameter.Parameter`` when a pickle names the class itself."""


class NumpyDtype:
    """Stand-in for ``numpy.dtype(...)``: turned into a real dtype only for simple type codes."""

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        self.code = code
        self.byteorder: str | None = None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], str):
            self.byteorder = state[1]

    def resolve(self) -> np.dtype:
        if not isinstance(self.code, str) or not _SIMPLE_DTYPE.match(self.code):
            raise pickle.UnpicklingError(f"numpy dtype {self.code!r} is not a plain numeric type")
        dtype = np.dtype(self.code)
        if self.byteorder in ("<", ">"):
            dtype = dtype.newbyteorder(self.byteorder)
        return dtype


class NumpyArray:
    """Stand-in for a pickled ``numpy.ndarray``: rebuilt from raw bytes for plain numeric dtypes."""

    def __init__(self) -> None:
        self.value: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            return
        _, shape, dtype, fortran, raw = state
        if isinstance(dtype, NumpyDtype) and isinstance(raw, (bytes, bytearray)):
            array = np.frombuffer(bytes(raw), dtype=dtype.resolve())
            self.value = array.reshape(shape, order="F" if fortran else "C")


def _numpy_scalar(dtype: Any, raw: Any = None) -> Any:
    if not isinstance(dtype, NumpyDtype) or not isinstance(raw, (bytes, bytearray)):
        raise pickle.UnpicklingError("numpy scalar without a plain dtype and bytes")
    return np.frombuffer(bytes(raw), dtype=dtype.resolve())[0].item()


def _numpy_reconstruct(cls: Any, shape: Any, typecode: Any) -> NumpyArray:
    return NumpyArray()


def _numpy_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> NumpyArray:
    holder = NumpyArray()
    if isinstance(dtype, NumpyDtype) and isinstance(buf, (bytes, bytearray)):
        holder.value = np.frombuffer(bytes(buf), dtype=dtype.resolve()).reshape(shape, order=order)
    return holder


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError("unexpected _codecs.encode arguments")
    return text.encode(encoding)


def _as_path(*parts: Any) -> str:
    return "/".join(str(p) for p in parts).replace("//", "/") if parts else "."


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, *rest: Any) -> TensorRef:
    return _checked_tensor(storage, storage_offset, size, stride, None)


def _rebuild_tensor_v3(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any,
                       hooks: Any, dtype: Any, *rest: Any) -> TensorRef:
    return _checked_tensor(storage, storage_offset, size, stride, dtype if isinstance(dtype, torch.dtype)
                           else None)


def _checked_tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: torch.dtype | None,
                    ) -> TensorRef:
    """A tensor reference whose every element lies inside its storage (else the file is corrupt)."""
    if not isinstance(storage, StorageRef):
        raise pickle.UnpicklingError("tensor rebuild without a storage reference")
    try:
        shape = tuple(int(s) for s in size)
        strides = tuple(int(s) for s in stride)
        start = int(offset)
    except (TypeError, ValueError):
        raise pickle.UnpicklingError("tensor with a malformed shape, stride or offset") from None
    dtype = dtype or storage.dtype
    if len(shape) != len(strides) or start < 0 or any(s < 0 for s in shape + strides):
        raise pickle.UnpicklingError("tensor with a malformed shape, stride or offset")
    ref = TensorRef(storage, start, shape, strides, dtype)
    if ref.numel:
        last = start + sum((n - 1) * st for n, st in zip(shape, strides, strict=True))
        element = ref.nbytes // ref.numel
        if (last + 1) * element > storage.nbytes:
            raise pickle.UnpicklingError("tensor extends past the end of its storage")
    return ref


def _rebuild_parameter(data: Any, requires_grad: Any = True, hooks: Any = None, *rest: Any) -> Any:
    if isinstance(data, TensorRef):
        data.is_parameter = True
        data.requires_grad = bool(requires_grad)
    return data


_TORCH_FUNCTIONS = {
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
}
_DTYPE_NAMES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    if func not in _TORCH_FUNCTIONS.values():
        raise pickle.UnpicklingError("tensor subclass rebuilt by an unknown function")
    result = func(*args)
    if new_type is _ParameterType and isinstance(result, TensorRef):
        result.is_parameter = True
    return result


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    """``copyreg._reconstructor`` without calling anything foreign: only stand-ins are created."""
    if isinstance(cls, type) and issubclass(cls, StandIn):
        return StandIn.__new__(cls)
    raise pickle.UnpicklingError("copyreg._reconstructor on a class that is not a stand-in")


_SAFE_GLOBALS: dict[str, Any] = {
    "collections.OrderedDict": __import__("collections").OrderedDict,
    "_codecs.encode": _codecs_encode,
    "copyreg._reconstructor": _reconstructor,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch.nn.parameter.Parameter": _ParameterType,
    "torch.Size": lambda *a: tuple(*a) if a else (),
    "torch.device": lambda *a: ":".join(str(x) for x in a),
}
_NUMPY_GLOBALS = {
    "scalar": _numpy_scalar, "dtype": NumpyDtype, "_reconstruct": _numpy_reconstruct,
    "ndarray": NumpyArray, "_frombuffer": _numpy_frombuffer,
}
_NUMPY_MODULES = {"numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                  "numpy._core.numeric"}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler whose every global is a stand-in, a refused recorder, or our own safe rebuild."""

    def __init__(self, file: io.BufferedIOBase, registry: dict[str, GlobalRecord],
                 storages: dict[str, StorageRef] | None = None,
                 storage_factory: Any = None) -> None:
        super().__init__(file)
        self.registry = registry
        self.storages = storages if storages is not None else {}
        self.storage_factory = storage_factory
        self._classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:  # noqa: C901 - one dispatch table
        # Protocol 0-2 pickles name Python 3 globals by their Python 2 names (``__builtin__``,
        # ``commands``...): translate the names like pickle does, without importing anything.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if full in _TORCH_FUNCTIONS:
            return _TORCH_FUNCTIONS[full]
        if full in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[full]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        if module in ("torch", "torch.storage") and name == "UntypedStorage":
            return _StorageType(torch.uint8)
        if module == "torch" and name in _DTYPE_NAMES:
            return _DTYPE_NAMES[name]
        if module in ("builtins", "__builtin__") and name in SAFE_BUILTINS:
            return SAFE_BUILTINS[name]
        if module in _NUMPY_MODULES and name in _NUMPY_GLOBALS:
            self._note(full, "data-holder")
            return _NUMPY_GLOBALS[name]
        if module in ("pathlib", "pathlib._local") and name in PATH_CLASSES:
            self._note(full, "data-holder")
            return _as_path
        return self._stand_in_class(module, name)

    def _note(self, full: str, kind: GlobalKind) -> GlobalRecord:
        record = self.registry.get(full)
        if record is None:
            record = self.registry[full] = GlobalRecord(full, kind)
        record.references += 1
        return record

    def _stand_in_class(self, module: str, name: str) -> type:
        full = f"{module}.{name}"
        if is_dangerous(module, name):
            kind: GlobalKind = "refused-callable"
        elif module.startswith("torch.nn.modules") or module == "__main__" and name[:1].isupper():
            kind = "data-holder"  # re-classified as module-class once its state shows nn.Module fields
        elif module.startswith("torch"):
            kind = "unknown-callable"
        else:
            kind = "data-holder" if name[:1].isupper() else "unknown-callable"
        record = self._note(full, kind)
        cls = self._classes.get(full)
        if cls is None:
            base = RefusedCall if kind in ("refused-callable", "unknown-callable") else StandIn
            safe_name = re.sub(r"\W", "_", name) or "Global"
            cls = type(safe_name, (base,), {"__slots__": (), "_record": record, "__module__": "standin"})
            self._classes[full] = cls
        return cls

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("unsupported persistent reference in pickle")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int):
            raise pickle.UnpicklingError("malformed storage reference in pickle")
        existing = self.storages.get(key)
        if existing is not None:
            return existing
        if self.storage_factory is None:
            raise pickle.UnpicklingError("pickle references tensor storages but carries none")
        storage = self.storage_factory(key, storage_type.dtype, numel)
        self.storages[key] = storage
        return storage
