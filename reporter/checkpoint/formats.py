"""Container formats: find the pickle and the tensor bytes exactly as ``torch.load`` would, without
executing or copying anything.

The report must describe what ``torch.load`` would load, so each reader follows torch's own reader:
zip archives are opened with torch's ``PyTorchFileReader`` (which entry of duplicated names it reads,
where a storage's bytes start, which archives it refuses — with its reason); every other file is read
as torch's legacy loader reads it, a sequence of pickles (the first pickle is always unpickled by torch,
so a file that merely starts with a pickle can run code). safetensors files are parsed by their spec.
Each loader returns the unpickled (stand-in) object plus the storages it references.
"""

from __future__ import annotations

import io
import json
import math
import mmap
import os
import pickle
import struct
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import torch

from reporter.checkpoint.allowlist import canonical, lookup
from reporter.checkpoint.opscan import global_names
from reporter.checkpoint.structure import iter_tensors
from reporter.checkpoint.tensors import FileBytes, StorageRef, TensorRef, element_size
from reporter.checkpoint.unpickler import BoundedReader, GlobalRecord, PickleBound, SafeUnpickler
from reporter.limits import (
    COMPRESSION_RATIO,
    INFLATED_BYTES,
    PICKLE_BYTES,
    SAFETENSORS_HEADER,
    TENSOR_DIMS,
    TENSORS,
)

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
_SMALL_RECORD = 4096  # byteorder and version records are a few bytes


class FormatError(Exception):
    """The bytes are not (or no longer) a file of the claimed format; message is one line."""


class BoundError(FormatError):
    """The file asks for more than a documented bound allows; the message names the bound."""


class NotACheckpoint(FormatError):
    """The bytes are none of the formats torch.load reads (the message is shown as it is)."""


@dataclass
class Loaded:
    """What a container loader found: the top-level object and the tensor storages behind it."""

    format: str
    obj: Any
    storages: dict[str, StorageRef]
    registry: dict[str, GlobalRecord]
    load_error: str | None = None  # the pickle stopped early (after refusing something)
    safetensors_metadata: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)  # how an ambiguous file was read


def detect_format(head: bytes) -> str:
    """Name the container format from the first bytes, as torch.load decides (zip magic first)."""
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if 1 < header_len <= SAFETENSORS_HEADER and head[8:9] == b"{":
            return "safetensors"
    return "pickle"  # torch.load unpickles anything else (legacy format, or a plain pickle)


def refused(registry: dict[str, GlobalRecord]) -> bool:
    return any(r.kind == "refused-callable" for r in registry.values())


def scan_globals(data: bytes | memoryview, registry: dict[str, GlobalRecord], note: str | None = None,
                 start: int = 0) -> None:
    """Record every global a pickle names from ``start`` on, by skipping over its opcodes only (for
    pickles that cannot be read to the end, and for pickles torch would read but the report does not)."""
    recorder = SafeUnpickler(io.BytesIO(b""), registry)
    for module, name in global_names(data, start):
        before = set(registry)
        recorder.find_class(module, name)  # classify only: never imports or calls
        if note:
            for new in set(registry) - before:
                registry[new].calls.append(note)


def _unpickle(stream: BinaryIO | BoundedReader, registry: dict[str, GlobalRecord], storages: dict[str, StorageRef],
              factory: Callable[[str, torch.dtype, int], StorageRef] | None,
              rescan: Callable[[], tuple[bytes | memoryview, int]] | None = None) -> tuple[Any, str | None]:
    """Unpickle one object; when it fails after refusing globals, report the failure instead.

    ``rescan`` gives the pickle's bytes and where reading stopped, so that the globals named after a
    bound stopped the reading are still found (torch has no such bound: a hostile pickle is reported as
    hostile even when it is also beyond a bound), and so are those after a failure in a pickle that already
    named a refused callable (all of a hostile file's names are listed). Otherwise a malformed pickle is
    not scanned past its error: torch's unpickler fails at the same opcode, so nothing after it can run,
    and scanning garbage bytes (a random file) for "names" would raise false alarms.
    """
    unpickler = SafeUnpickler(stream, registry, storages, factory)
    try:
        return unpickler.load(), None
    except Exception as exc:  # noqa: BLE001 - any failure of a hostile or broken pickle
        problem = _describe(exc)
        bound = isinstance(exc, PickleBound)
    if rescan is not None and (bound or refused(registry)):
        data, stopped = rescan()
        scan_globals(data, registry, start=stopped)
    if refused(registry):
        return None, f"the pickle could not be read past a refused object ({problem})"
    raise (BoundError if bound else FormatError)(problem)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PickleBound):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "the pickle is nested too deeply to read"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


# --- torch zip -----------------------------------------------------------------------------------------


def _torch_reason(exc: BaseException) -> str:
    """torch's reader message in one line, without its C++ location and boilerplate."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "] " in text and text.startswith("[enforce fail"):
        text = text.split("] ", 1)[1].lstrip(". ")
    for tail in (" (Could this error message be improved?", " This is likely", " This is an internal"):
        text = text.split(tail, 1)[0]
    return text.strip()[:200]


def _open_torch_zip(path: str) -> tuple[Any, list[str]]:
    """torch's own zip reader and its record list, or the reason torch.load refuses the file."""
    try:
        reader = torch._C.PyTorchFileReader(path)
        records = reader.get_all_records()
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError (and others) for bad archives
        reason = _torch_reason(exc)
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            names = None
        if names is not None and not any(n.lower().endswith("data.pkl") for n in names):
            raise FormatError("zip file without data.pkl (not a torch checkpoint)") from None
        if "central directory" in reason or "zip archive" in reason:
            raise FormatError(f"zip container is truncated or corrupt (torch.load: {reason})") from None
        raise FormatError(f"torch.load refuses this zip: {reason}") from None
    return reader, records


def _record(reader: Any, name: str, limit: int) -> bytes:
    """A record's bytes as torch reads them, refused before reading when it claims too much."""
    try:
        size = reader.get_record_size(name)
        if size > limit:
            raise BoundError(f"{name} claims {size:,} bytes (bound: {limit:,})")
        return bytes(reader.get_record(name))
    except FormatError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise FormatError(f"torch.load cannot read {name}: {_torch_reason(exc)}") from None


class _ZipEntries:
    """Python's view of the zip directory, keyed by where each entry's data starts (as torch computes
    it: after the *local* header's name and extra fields), to learn how torch's chosen entry is stored."""

    def __init__(self, path: str, raw: BinaryIO, file_size: int) -> None:
        try:
            self.archive: zipfile.ZipFile | None = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            self.archive = None
        self.by_offset: dict[int, zipfile.ZipInfo] = {}
        infos = self.archive.infolist() if self.archive else []
        if len(infos) > 4 * TENSORS:
            raise BoundError(f"the zip holds {len(infos):,} entries (bound: {4 * TENSORS:,})")
        for info in infos:
            raw.seek(info.header_offset)
            header = raw.read(30)
            if len(header) == 30 and header[:4] == b"PK\x03\x04":
                name_len, extra_len = struct.unpack("<HH", header[26:30])
                self.by_offset[info.header_offset + 30 + name_len + extra_len] = info
        self.file_size = file_size

    def pickles(self) -> list[tuple[int, zipfile.ZipInfo]]:
        return [(offset, info) for offset, info in self.by_offset.items()
                if info.filename.lower().rsplit("/", 1)[-1] == "data.pkl"]

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


class _Inflated:
    """Compressed storages inflated into one anonymous temporary file (streamed, never held whole)."""

    def __init__(self) -> None:
        self.file: BinaryIO | None = None
        self.total = 0
        self.storages: list[StorageRef] = []

    def add(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, storage: StorageRef) -> None:
        if info.file_size > COMPRESSION_RATIO * max(info.compress_size, 1):
            raise BoundError(f"storage {storage.key} inflates {info.file_size / max(info.compress_size, 1):,.0f}"
                             f"-fold (bound: {COMPRESSION_RATIO})")
        if self.total + info.file_size > INFLATED_BYTES:
            raise BoundError(f"compressed storages inflate to more than {INFLATED_BYTES:,} bytes (bound)")
        if self.file is None:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the storages map it
        start = self.file.seek(0, io.SEEK_END)
        written = 0
        with archive.open(info) as source:
            while chunk := source.read(1 << 20):
                written += len(chunk)
                if written > info.file_size:
                    raise FormatError(f"storage {storage.key} inflates past its declared size")
                self.file.write(chunk)
        if written < storage.nbytes:
            raise FormatError(f"storage {storage.key} is shorter than its tensor")
        self.total += written
        storage.offset = start
        self.storages.append(storage)

    def map(self) -> None:
        if self.file is None or not self.total:
            return
        self.file.flush()
        mapped = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)
        for storage in self.storages:
            storage.data = mapped


def load_zip(path: str) -> Loaded:
    """torch's zip format: ``<archive>/data.pkl`` plus one entry per storage, read where torch reads."""
    reader, records = _open_torch_zip(path)
    lowered = [r.lower() for r in records]
    if "data.pkl" not in lowered:
        raise FormatError("zip file without data.pkl (not a torch checkpoint)")
    if "constants.pkl" in lowered or any(r.startswith("code/") for r in lowered):
        raise FormatError("TorchScript archive (torch.jit.save), not a training checkpoint or state_dict")
    if reader.has_record("byteorder"):
        order = _record(reader, "byteorder", _SMALL_RECORD)
        if order != b"little":
            raise FormatError(f"byteorder record {order[:16]!r}: only little-endian checkpoints are supported")
    data = _record(reader, "data.pkl", PICKLE_BYTES)
    pickle_offset = reader.get_record_offset("data.pkl")
    registry: dict[str, GlobalRecord] = {}
    storages: dict[str, StorageRef] = {}
    inflated = _Inflated()
    with open(path, "rb") as raw:
        file_size = os.fstat(raw.fileno()).st_size
        entries = _ZipEntries(path, raw, file_size)
        try:
            _check_compressed(entries)
            notes = _shadowed_pickles(entries, pickle_offset, registry)

            def factory(key: str, dtype: torch.dtype, numel: int) -> StorageRef:
                return _zip_storage(reader, entries, inflated, key, dtype, numel)

            stream = io.BytesIO(data)
            obj, error = _unpickle(stream, registry, storages, factory, rescan=lambda: (data, stream.tell()))
            inflated.map()
        finally:
            entries.close()
    return Loaded("torch-zip", obj, storages, registry, error, notes=notes)


def _check_compressed(entries: _ZipEntries) -> None:
    """Refuse before inflating anything when the compressed entries claim more than the bounds allow."""
    declared = 0
    for info in entries.by_offset.values():
        if info.compress_type == zipfile.ZIP_STORED:
            continue
        declared += info.file_size
        if info.file_size > COMPRESSION_RATIO * max(info.compress_size, 1):
            raise BoundError(f"{info.filename[:80]} inflates {info.file_size / max(info.compress_size, 1):,.0f}-fold "
                             f"(bound: {COMPRESSION_RATIO})")
    if declared > INFLATED_BYTES:
        raise BoundError(f"compressed entries inflate to {declared:,} bytes (bound: {INFLATED_BYTES:,})")


def _zip_storage(reader: Any, entries: _ZipEntries, inflated: _Inflated, key: str, dtype: torch.dtype,
                 numel: int) -> StorageRef:
    name = f"data/{key}"
    storage = StorageRef(key, dtype, numel)
    try:
        if not reader.has_record(name):
            raise pickle.UnpicklingError(f"storage {key} missing from the archive")
        size = reader.get_record_size(name)
        offset = reader.get_record_offset(name)
    except pickle.UnpicklingError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch's reader refuses the entry: torch.load would fail
        raise pickle.UnpicklingError(f"torch.load cannot read storage {key}: {_torch_reason(exc)}") from None
    if size < storage.nbytes:
        raise pickle.UnpicklingError(f"storage {key} is shorter than its tensor")
    info = entries.by_offset.get(offset)
    if info is None or entries.archive is None:
        raise pickle.UnpicklingError(f"storage {key}: the zip directory does not describe the entry torch reads")
    if info.flag_bits & 0x1:
        raise pickle.UnpicklingError(f"storage {key} is encrypted")
    if info.compress_type == zipfile.ZIP_STORED:
        if offset + storage.nbytes > entries.file_size:
            raise pickle.UnpicklingError(f"storage {key} runs past the end of the file")
        storage.offset = offset
    else:
        try:
            inflated.add(entries.archive, info, storage)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise pickle.UnpicklingError(f"storage {key} cannot be inflated ({_describe(exc)})") from None
    return storage


def _shadowed_pickles(entries: _ZipEntries, chosen: int, registry: dict[str, GlobalRecord]) -> list[str]:
    """Other ``data.pkl`` entries: torch does not read them, but another zip reader might, so every
    global they name is recorded (a hostile shadow is a security finding) and the ambiguity noted."""
    shadows = [(offset, info) for offset, info in entries.pickles() if offset != chosen]
    if not shadows or entries.archive is None:
        return []
    for _, info in shadows:
        if info.file_size > PICKLE_BYTES or info.flag_bits & 0x1:
            continue
        try:
            with entries.archive.open(info) as stream:
                scan_globals(stream.read(PICKLE_BYTES), registry,
                             note=f"named in the shadowed entry {info.filename} at byte {info.header_offset}")
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError):
            continue
    return [f"the zip holds {len(shadows) + 1} entries named like data.pkl; torch.load reads the one whose "
            f"data starts at byte {chosen} and so does this report (the others were scanned for globals)"]


# --- everything torch.load reads as pickles ---------------------------------------------------------------


def load_pickles(path: str, size: int) -> Loaded:
    """What torch's legacy loader does with a non-zip file: unpickle a first object (always), and only
    when it is the legacy magic number go on to the protocol, system info, the object, the storage
    keys and the raw storage bytes. A plain pickle is therefore unpickled by torch too."""
    registry: dict[str, GlobalRecord] = {}
    storages: dict[str, StorageRef] = {}
    with open(path, "rb") as stream:
        try:
            first, error = _next_pickle(stream, registry, storages, None)
        except BoundError:
            raise
        except FormatError as exc:
            raise NotACheckpoint("not a checkpoint: unrecognised bytes (not a torch zip or legacy file, "
                                 f"safetensors or pickle: {exc})") from None
        if error is not None or first != LEGACY_MAGIC or type(first) is not int:
            return Loaded("pickle", first, {}, registry, error)
        protocol, error = _next_pickle(stream, registry, storages, None)
        if error is not None or protocol != LEGACY_PROTOCOL:
            problem = error or f"legacy torch file with protocol version {str(protocol)[:40]} (torch.load refuses it)"
            if not refused(registry):
                raise FormatError(problem)
            return Loaded("torch-legacy", None, {}, registry, problem)
        _, error = _next_pickle(stream, registry, storages, None)  # sys_info
        if error is not None:
            return Loaded("torch-legacy", None, {}, registry, error)

        def factory(key: str, dtype: torch.dtype, numel: int) -> StorageRef:
            return StorageRef(key, dtype, numel)

        obj, error = _next_pickle(stream, registry, storages, factory)
        if error is not None:
            return Loaded("torch-legacy", obj, storages, registry, error)
        keys, error = _next_pickle(stream, registry, {}, None)
        if error is not None:
            return Loaded("torch-legacy", obj, storages, registry, error)
        _place_legacy_storages(stream, keys, storages, size)
    return Loaded("torch-legacy", obj, storages, registry, None)


def _next_pickle(stream: BinaryIO, registry: dict[str, GlobalRecord], storages: dict[str, StorageRef],
                 factory: Callable[[str, torch.dtype, int], StorageRef] | None) -> tuple[Any, str | None]:
    start = stream.tell()

    def rescan() -> tuple[bytes, int]:
        stopped = stream.tell()
        stream.seek(start)
        return stream.read(PICKLE_BYTES), stopped - start

    value, error = _unpickle(BoundedReader(stream), registry, storages, factory, rescan=rescan)
    return value, error


def _place_legacy_storages(stream: BinaryIO, keys: Any, storages: dict[str, StorageRef], size: int) -> None:
    if not isinstance(keys, list) or len(keys) > TENSORS:
        raise FormatError("legacy torch file without a storage key list")
    position = stream.tell()
    for key in keys:
        stream.seek(position)
        count = stream.read(8)
        if len(count) < 8:
            raise FormatError("legacy torch file is truncated (storage data missing)")
        (numel,) = struct.unpack("<q", count)
        if numel < 0:
            raise FormatError("legacy torch file with a negative storage size")
        storage = storages.get(str(key))
        if storage is None:
            raise FormatError(f"legacy torch file names storage {str(key)[:40]} that no tensor uses")
        if numel < storage.numel:
            raise FormatError(f"legacy storage {str(key)[:40]} holds fewer values than its tensors need")
        storage.offset = position + 8
        position += 8 + numel * element_size(storage.dtype)
        if position > size:
            raise FormatError("legacy torch file is truncated (storage data cut short)")
    if any(storage.offset is None for storage in storages.values()):
        raise FormatError("legacy torch file lacks the data of some storages (corrupt key list)")


# --- safetensors ---------------------------------------------------------------------------------------------


def load_safetensors(path: str, size: int) -> Loaded:
    """safetensors: an 8-byte header length, a JSON header, then raw little-endian tensor bytes."""
    with open(path, "rb") as stream:
        (header_len,) = struct.unpack("<Q", stream.read(8))
        if header_len > SAFETENSORS_HEADER:
            raise BoundError(f"safetensors header of {header_len:,} bytes (bound: {SAFETENSORS_HEADER:,})")
        if 8 + header_len > size:
            raise FormatError("safetensors header is longer than the file (truncated)")
        try:
            header = json.loads(stream.read(header_len))
        except RecursionError:
            raise BoundError("safetensors header nests JSON too deeply to read (bound: Python's recursion "
                             "limit)") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"safetensors header is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if len(header) > TENSORS:
        raise BoundError(f"safetensors file lists {len(header):,} tensors (bound: {TENSORS:,})")
    base = 8 + header_len
    tensors: dict[str, TensorRef] = {}
    storages: dict[str, StorageRef] = {}
    for name, entry in header.items():
        dtype, shape, begin, end = _safetensors_entry(name, entry)
        if base + end > size:
            raise FormatError(f"safetensors file is truncated (tensor {name[:80]!r} runs past the end)")
        element = element_size(dtype)
        if begin < 0 or begin > end or end - begin != math.prod(shape) * element:
            raise FormatError(f"safetensors entry {name[:80]!r}: byte range does not match its shape")
        storage = StorageRef(name, dtype, (end - begin) // element, offset=base + begin)
        storages[name] = storage
        tensors[name] = TensorRef(storage, 0, shape, tuple(_contiguous_strides(shape)), dtype)
    if isinstance(metadata, dict):
        metadata = {str(k)[:200]: str(v)[:1000] for k, v in list(metadata.items())[:1000]
                    if isinstance(v, (str, int, float))}
    return Loaded("safetensors", tensors, storages, {}, None,
                  safetensors_metadata=metadata if isinstance(metadata, dict) else None)


def _safetensors_entry(name: str, entry: Any) -> tuple[torch.dtype, tuple[int, ...], int, int]:
    try:
        dtype = _SAFETENSORS_DTYPES[entry["dtype"]]
        raw_shape, offsets = entry["shape"], entry["data_offsets"]
        if (not isinstance(raw_shape, list) or len(raw_shape) > TENSOR_DIMS or not isinstance(offsets, list)
                or len(offsets) != 2):
            raise TypeError
        if not all(type(s) is int and s >= 0 for s in raw_shape + offsets):
            raise ValueError
        return dtype, tuple(raw_shape), offsets[0], offsets[1]
    except (KeyError, TypeError, ValueError):
        raise FormatError(f"safetensors entry {str(name)[:80]!r} is malformed or of unsupported dtype") from None


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


__all__ = ["BoundError", "FormatError", "LEGACY_MAGIC", "Loaded", "NotACheckpoint", "attach", "canonical",
           "detect_format", "load_pickles", "load_safetensors", "load_zip", "lookup", "scan_globals"]
