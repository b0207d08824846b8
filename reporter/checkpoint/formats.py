"""Container formats: find the pickle and the tensor bytes without executing or copying anything.

torch zip (torch >= 1.6), the legacy sequential torch format, safetensors and a raw pickle. Each
loader returns the unpickled (stand-in) object plus the storages it references.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import pickletools
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import torch

from reporter.checkpoint.structure import iter_tensors
from reporter.checkpoint.tensors import FileBytes, StorageRef, TensorRef
from reporter.checkpoint.unpickler import GlobalRecord, SafeUnpickler

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


class FormatError(Exception):
    """The bytes are not (or no longer) a file of the claimed format; message is one line."""


@dataclass
class Loaded:
    """What a container loader found: the top-level object and the tensor storages behind it."""

    format: str
    obj: Any
    storages: dict[str, StorageRef]
    registry: dict[str, GlobalRecord]
    load_error: str | None = None  # the pickle stopped early (after refusing something)
    safetensors_metadata: dict[str, str] | None = None


def detect_format(head: bytes) -> str:
    """Name the container format from the first bytes of a file."""
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if 1 < header_len < 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    if head.startswith(b"\x80\x02\x8a\x0a" + LEGACY_MAGIC.to_bytes(10, "little")):
        return "torch-legacy"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head[:1] in (b"(", b"]", b"}", b"c", b"N", b"I", b"S", b"V", b"X"):
        return "pickle"
    return "unknown"


_MEMO_OPS = {"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"}
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
               "SHORT_BINSTRING"}


def _prescan(stream: BinaryIO) -> tuple[str | None, list[tuple[str, str]]]:
    """Decode the opcodes (nothing is executed) to refuse pickles built to exhaust memory.

    The C unpickler grows its memo array to any index it is given (``LONG_BINPUT 1e9`` costs 8 GB)
    and allocates any length a bytes opcode claims before reading. A real pickler numbers memo slots
    from 0, so an index never exceeds the pickle's length, and a length never exceeds the bytes left.
    Returns the problem found (or None) and the globals named on the way, so a malformed hostile
    pickle is still reported as hostile.
    """
    start = stream.tell()
    names: list[tuple[str, str]] = []
    strings: list[str] = []
    problem = None
    try:
        for opcode, argument, position in pickletools.genops(stream):
            if opcode.name in _MEMO_OPS and isinstance(argument, int) and argument > position + 64:
                problem = f"pickle memo index {argument} at byte {position} is impossible (memory exhaustion)"
                break
            if opcode.name in ("GLOBAL", "INST") and isinstance(argument, str) and " " in argument:
                module, name = argument.split(" ", 1)
                names.append((module, name))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append((strings[-2], strings[-1]))
            if opcode.name in _STRING_OPS and isinstance(argument, str):
                strings = (strings + [argument])[-2:]
    except Exception as exc:  # noqa: BLE001 - any decoding failure means the pickle is malformed
        detail = str(exc).splitlines()[0][:120] if str(exc) else ""
        problem = f"malformed pickle ({type(exc).__name__}: {detail})"
    stream.seek(start)
    return problem, names


def _unpickle(stream: BinaryIO, registry: dict[str, GlobalRecord], storages: dict[str, StorageRef],
              factory: Callable[[str, torch.dtype, int], StorageRef] | None) -> tuple[Any, str | None]:
    """Unpickle one object; when it fails after refusing globals, report the failure instead."""
    problem, names = _prescan(stream)
    if problem is not None:
        recorder = SafeUnpickler(io.BytesIO(b""), registry)
        for module, name in names:
            recorder.find_class(module, name)  # classify only: find_class never imports or calls
        if any(r.kind == "refused-callable" for r in registry.values()):
            return None, f"the pickle could not be read past a refused object ({problem})"
        raise FormatError(problem)
    unpickler = SafeUnpickler(stream, registry, storages, factory)
    try:
        return unpickler.load(), None
    except RecursionError:
        return None, "the pickle is nested too deeply to read"
    except Exception as exc:  # noqa: BLE001 - any failure of a hostile or broken pickle
        if any(r.kind == "refused-callable" for r in registry.values()):
            return None, f"the pickle could not be read past a refused object ({type(exc).__name__})"
        raise FormatError(_describe(exc)) from None


def _describe(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


def load_zip(path: str) -> Loaded:
    """torch's zip format: ``<archive>/data.pkl`` plus one uncompressed entry per storage."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"zip container is truncated or corrupt ({exc})") from None
    with archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") <= 1]
        if not pickles:
            raise FormatError("zip file without data.pkl (not a torch checkpoint)")
        prefix = pickles[0][: -len("data.pkl")]
        if f"{prefix}constants.pkl" in names or any(n.startswith(f"{prefix}code/") for n in names):
            raise FormatError("TorchScript archive (torch.jit.save), not a training checkpoint or state_dict")
        infos = {info.filename: info for info in archive.infolist()}
        registry: dict[str, GlobalRecord] = {}
        storages: dict[str, StorageRef] = {}
        raw = open(path, "rb")  # noqa: SIM115 - closed below
        file_size = os.fstat(raw.fileno()).st_size
        try:
            def factory(key: str, dtype: torch.dtype, numel: int) -> StorageRef:
                info = infos.get(f"{prefix}data/{key}")
                if info is None:
                    raise pickle.UnpicklingError(f"storage {key} missing from the archive")
                storage = StorageRef(key, dtype, numel)
                if info.file_size < storage.nbytes:
                    raise pickle.UnpicklingError(f"storage {key} is shorter than its tensor")
                if info.compress_type == zipfile.ZIP_STORED:
                    raw.seek(info.header_offset)
                    header = raw.read(30)
                    if len(header) < 30 or header[:4] != b"PK\x03\x04":
                        raise pickle.UnpicklingError(f"storage {key} has a corrupt zip header")
                    name_len, extra_len = struct.unpack("<HH", header[26:30])
                    storage.offset = info.header_offset + 30 + name_len + extra_len
                    if storage.offset + storage.nbytes > file_size:
                        raise pickle.UnpicklingError(f"storage {key} runs past the end of the file")
                else:
                    storage.data = archive.read(info)
                return storage

            try:
                data = archive.read(pickles[0])
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise FormatError(f"data.pkl is unreadable ({exc})") from None
            obj, error = _unpickle(io.BytesIO(data), registry, storages, factory)
        finally:
            raw.close()
    return Loaded("torch-zip", obj, storages, registry, error)


def load_legacy(path: str, size: int) -> Loaded:
    """torch's pre-1.6 format: magic, protocol, sys_info, the object, storage keys, raw storages."""
    registry: dict[str, GlobalRecord] = {}
    storages: dict[str, StorageRef] = {}
    with open(path, "rb") as stream:
        for _ in range(3):  # magic number, protocol version, sys_info: plain values
            _unpickle(stream, registry, storages, None)

        def factory(key: str, dtype: torch.dtype, numel: int) -> StorageRef:
            return StorageRef(key, dtype, numel)

        obj, error = _unpickle(stream, registry, storages, factory)
        if error is not None:
            return Loaded("torch-legacy", obj, storages, registry, error)
        keys, _ = _unpickle(stream, registry, {}, None)
        if not isinstance(keys, list):
            raise FormatError("legacy torch file without a storage key list")
        position = stream.tell()
        for key in keys:
            stream.seek(position)
            count = stream.read(8)
            if len(count) < 8:
                raise FormatError("legacy torch file is truncated (storage data missing)")
            (numel,) = struct.unpack("<q", count)
            storage = storages.get(str(key))
            element = storage.nbytes // storage.numel if storage and storage.numel else 1
            if storage is not None:
                if numel < storage.numel:
                    raise FormatError(f"legacy storage {key} holds fewer values than its tensors need")
                storage.offset = position + 8
            position += 8 + numel * element
        if position > size:
            raise FormatError("legacy torch file is truncated (storage data cut short)")
        if any(storage.offset is None for storage in storages.values()):
            raise FormatError("legacy torch file lacks the data of some storages (corrupt key list)")
    return Loaded("torch-legacy", obj, storages, registry, error)


def load_raw_pickle(path: str) -> Loaded:
    """A plain pickle (``pickle.dump`` of anything); it cannot hold tensor storages."""
    registry: dict[str, GlobalRecord] = {}
    with open(path, "rb") as stream:
        obj, error = _unpickle(stream, registry, {}, None)
    return Loaded("pickle", obj, {}, registry, error)


def load_safetensors(path: str, size: int) -> Loaded:
    """safetensors: an 8-byte header length, a JSON header, then raw little-endian tensor bytes."""
    with open(path, "rb") as stream:
        (header_len,) = struct.unpack("<Q", stream.read(8))
        if 8 + header_len > size:
            raise FormatError("safetensors header is longer than the file (truncated)")
        try:
            header = json.loads(stream.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"safetensors header is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    base = 8 + header_len
    tensors: dict[str, TensorRef] = {}
    storages: dict[str, StorageRef] = {}
    for name, entry in header.items():
        try:
            dtype = _SAFETENSORS_DTYPES[entry["dtype"]]
            shape = tuple(int(s) for s in entry["shape"])
            begin, end = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"safetensors entry {name!r} is malformed or of unsupported dtype") from None
        if base + end > size:
            raise FormatError(f"safetensors file is truncated (tensor {name!r} runs past the end)")
        element = torch.empty((), dtype=dtype).element_size()
        if begin < 0 or end - begin != math.prod(shape) * element:
            raise FormatError(f"safetensors entry {name!r}: byte range does not match its shape")
        storage = StorageRef(name, dtype, (end - begin) // element, offset=base + begin)
        storages[name] = storage
        stride = tuple(_contiguous_strides(shape))
        tensors[name] = TensorRef(storage, 0, shape, stride, dtype)
    return Loaded("safetensors", tensors, storages, {}, None,
                  safetensors_metadata=metadata if isinstance(metadata, dict) else None)


def _contiguous_strides(shape: tuple[int, ...]) -> list[int]:
    strides, running = [], 1
    for size in reversed(shape):
        strides.append(running)
        running *= max(size, 1)
    return list(reversed(strides))


def attach(loaded: Loaded, source: FileBytes) -> None:
    """Let every tensor reference read its data from the one shared file map."""
    for _, ref in iter_tensors(loaded.obj):
        ref._source = source
