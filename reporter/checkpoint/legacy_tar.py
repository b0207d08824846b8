"""torch's oldest format (before 0.4): a tar of ``storages``, ``tensors`` and ``pickle`` members.

``torch.load`` still tries it first for every non-zip file and unpickles the members it finds, so a
tar can run code when loaded. genesis-report does not report on such files, but it reads their pickles
the way torch would (with the safe unpickler) to tell a hostile one (exit 3) from an unsupported one
(exit 2).
"""

from __future__ import annotations

import struct
import tarfile
from typing import IO, Any

from reporter.checkpoint.allowlist import StorageType
from reporter.checkpoint.formats import FormatError, Loaded, refused, scan_globals
from reporter.checkpoint.tensors import element_size
from reporter.checkpoint.unpickler import BoundedReader, GlobalRecord, SafeUnpickler
from reporter.limits import PICKLE_BYTES, TENSOR_DIMS, TENSORS

UNSUPPORTED = "a legacy tar checkpoint (torch before 0.4), which genesis-report does not read"


def open_tar(path: str) -> tarfile.TarFile | None:
    """The file as torch opens it (an uncompressed tar), or None when it is not one."""
    try:
        return tarfile.open(path, mode="r:")
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return None


def load_tar(archive: tarfile.TarFile) -> Loaded:
    """Scan the pickles torch would unpickle; exit 3 when one names a refused global, else exit 2."""
    registry: dict[str, GlobalRecord] = {}
    with archive:
        members: dict[str, tarfile.TarInfo] = {}
        for count, entry in enumerate(archive):
            if count > 64:
                break
            members.setdefault(entry.name, entry)
        if "storages" not in members:
            raise FormatError(f"{UNSUPPORTED} (no 'storages' member: torch.load refuses it too)")
        problem = None
        for name, reader in (("storages", _storages), ("tensors", _tensors), ("pickle", _one)):
            member = members.get(name)
            stream = archive.extractfile(member) if member is not None else None
            if stream is None:
                break
            try:
                reader(stream, registry)
            except Exception as exc:  # noqa: BLE001 - a broken member ends what torch would read
                stream.seek(0)
                scan_globals(stream.read(PICKLE_BYTES), registry)
                problem = f"{name}: {type(exc).__name__}"
                break
    if refused(registry):
        return Loaded("torch-legacy-tar", None, {}, registry, f"{UNSUPPORTED}; its pickles name refused globals"
                      + (f" ({problem})" if problem else ""))
    raise FormatError(UNSUPPORTED)


def _load(stream: IO[bytes], registry: dict[str, GlobalRecord]) -> Any:
    return SafeUnpickler(BoundedReader(stream), registry).load()


def _one(stream: IO[bytes], registry: dict[str, GlobalRecord]) -> None:
    try:
        _load(stream, registry)
    except Exception:  # noqa: BLE001 - persistent ids of this format are not followed; globals are
        stream.seek(0)
        scan_globals(stream.read(PICKLE_BYTES), registry)


def _count(stream: IO[bytes], registry: dict[str, GlobalRecord]) -> int:
    count = _load(stream, registry)
    if type(count) is not int or not 0 <= count <= TENSORS:
        raise FormatError("bad count")
    return count


def _storages(stream: IO[bytes], registry: dict[str, GlobalRecord]) -> None:
    for _ in range(_count(stream, registry)):
        args = _load(stream, registry)
        if not (isinstance(args, tuple) and len(args) == 3 and isinstance(args[2], StorageType)):
            raise FormatError("bad storage record")
        (size,) = struct.unpack("<q", stream.read(8))
        if size < 0:
            raise FormatError("bad storage size")
        stream.seek(size * element_size(args[2].dtype), 1)
    _load(stream, registry)  # storage views


def _tensors(stream: IO[bytes], registry: dict[str, GlobalRecord]) -> None:
    for _ in range(_count(stream, registry)):
        _load(stream, registry)
        (ndim,) = struct.unpack("<i", stream.read(4))
        if not 0 <= ndim <= TENSOR_DIMS:
            raise FormatError("bad tensor record")
        stream.seek(4 + 16 * ndim + 8, 1)
