"""``read_checkpoint``: open any GENESIS checkpoint without executing anything from it.

The reader detects the container format, unpickles with :class:`SafeUnpickler` (stand-ins for every
foreign global, refused recorders for code-running callables), keeps tensors as memory-mappable
references and hashes the file in a background thread so the hash overlaps the analysis.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reporter.checkpoint import digest_cache
from reporter.checkpoint.formats import (
    BoundError,
    FormatError,
    Loaded,
    NotACheckpoint,
    attach,
    detect_format,
    load_pickles,
    load_safetensors,
    load_zip,
)
from reporter.checkpoint.structure import (
    is_module,
    iter_tensors,
    max_depth,
    module_classes,
    module_state_dict,
    to_plain,
)
from reporter.checkpoint.tensors import FileBytes, StorageRef, TensorRef
from reporter.checkpoint.unpickler import GlobalRecord
from reporter.errors import InputError, no_such_file
from reporter.limits import NESTING, LimitExceeded

Progress = Callable[[str, float], None]
TRAINER_KEYS = ("epoch", "global_step", "model_state_dict", "optimizer_state_dict", "best_loss")
_MODEL_KEYS = ("model_state_dict", "state_dict", "model")
_HASH_BLOCK = 8 << 20


class _Sha256:
    """Streams the file through sha256 on a background thread (hashlib releases the GIL)."""

    def __init__(self, path: str, size: int, progress: Progress | None) -> None:
        self._digest: str | None = None
        self._error: OSError | None = None
        self.before = digest_cache.identity(path)  # the file as hashing starts (for the digest cache)
        self.started_ns = digest_cache.now_ns()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path, size, progress), daemon=True)
        self._thread.start()

    def _run(self, path: str, size: int, progress: Progress | None) -> None:
        digest = hashlib.sha256()
        buffer = bytearray(_HASH_BLOCK)
        view = memoryview(buffer)
        done = 0
        try:
            with open(path, "rb", buffering=0) as stream:
                while not self._stop.is_set() and (count := stream.readinto(buffer)):
                    digest.update(view[:count])
                    done += count
                    if progress is not None and size and done % (16 * _HASH_BLOCK) < _HASH_BLOCK:
                        progress("sha256", done / size)
        except OSError as exc:
            self._error = exc
            return
        finally:
            view.release()
        if self._stop.is_set():
            return
        self._digest = digest.hexdigest()
        if progress is not None:
            progress("sha256", 1.0)

    def cancel(self) -> None:
        """Stop hashing (the file turned out unreadable) and wait, so no thread outlives the error."""
        self._stop.set()
        self._thread.join()

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise InputError(f"file could not be read while hashing ({self._error.strerror})")
        assert self._digest is not None
        return self._digest


@dataclass
class CheckpointFile:
    """Everything read from a checkpoint file, as plain Python values and lazy tensor references."""

    path: str
    format: str  # torch-zip | torch-legacy | safetensors | pickle
    size_bytes: int
    structure: str  # trainer-checkpoint | state-dict | module | tensors | none
    top_level: dict[str, str]  # top-level key -> short type description
    state_dict: dict[str, TensorRef]
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    early_stopping: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    checkpoint_metadata: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)  # epoch, global_step, best_loss, suffix
    foreign_globals: list[GlobalRecord] = field(default_factory=list)
    module_class: str | None = None
    module_classes: list[str] = field(default_factory=list)
    storages: dict[str, StorageRef] = field(default_factory=dict)
    storage_sections: dict[str, str] = field(default_factory=dict)  # storage key -> section name
    read_problems: list[str] = field(default_factory=list)  # parts that could not be read
    safetensors_metadata: dict[str, str] | None = None
    raw: Any = field(default=None, repr=False)
    _hash: _Sha256 | None = field(default=None, repr=False)
    _sha256: str | None = field(default=None, repr=False)
    sha256_from_cache: bool = False  # the digest was read from the digest cache, not computed now
    _cache_digest: bool = field(default=True, repr=False)  # store the computed digest in the digest cache

    @property
    def sha256(self) -> str | None:
        """Hex digest of the whole file (waits for the background hash); None if not requested."""
        if self._sha256 is None and self._hash is not None:
            self._sha256 = self._hash.result()
            if self._cache_digest:
                digest_cache.store(self.path, self._sha256, self._hash.before, self._hash.started_ns)
        return self._sha256

    @property
    def refused(self) -> list[GlobalRecord]:
        return [g for g in self.foreign_globals if g.kind == "refused-callable"]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter/buffer shapes of the model state_dict (no tensor data touched)."""
        return {name: ref.shape for name, ref in self.state_dict.items()}


def read_checkpoint(path: str | os.PathLike[str], *, progress: Progress | None = None,
                    sha256: bool = True, digest_cache_on: bool = True, verify_digest: bool = False) -> CheckpointFile:
    """Read a checkpoint of any supported format; raise :class:`InputError` for unusable input.

    ``progress(stage, fraction)`` is called for the pickle read and, from the hashing thread, for the
    sha256 (so it must be thread-safe). Nothing from the file is executed; see ``unpickler``.
    ``sha256=False`` skips the hash, which bounds the wall time (≈1.3 GB/s on one core).
    ``digest_cache_on=False`` (--no-digest-cache) neither reads nor writes the digest cache;
    ``verify_digest`` (--verify-digest) always hashes and refreshes the cache (see digest_cache).
    """
    path = os.fspath(path)
    size = _check_file(path)
    with open(path, "rb") as stream:
        head = stream.read(64)
    kind = detect_format(head)
    known = digest_cache.lookup(path, verify=verify_digest) if sha256 and digest_cache_on else None
    hasher = _Sha256(path, size, progress) if sha256 and known is None else None
    if progress is not None:
        progress("reading pickle", 0.0)
    try:
        checkpoint = _read(kind, path, size, hasher)
    except BaseException:
        if hasher is not None:
            hasher.cancel()
        raise
    checkpoint._cache_digest = digest_cache_on
    if known is not None:
        checkpoint._sha256, checkpoint.sha256_from_cache = known, True
    if progress is not None:
        progress("reading pickle", 1.0)
    return checkpoint


def _read(kind: str, path: str, size: int, hasher: _Sha256 | None) -> CheckpointFile:
    try:
        loaded = _load(kind, path, size)
    except NotACheckpoint as exc:
        raise InputError(str(exc), path) from None
    except BoundError as exc:
        raise InputError(f"refused, beyond a bound: {exc}", path) from None
    except FormatError as exc:
        raise InputError(f"not a readable {kind} checkpoint: {exc}", path) from None
    except OSError as exc:
        raise InputError(f"could not be read ({exc.strerror})", path) from None
    except (ValueError, LookupError, EOFError, OverflowError, NotImplementedError, MemoryError,
            RecursionError, struct.error) as exc:
        # corrupt containers surface as many exception types (zip names, struct sizes, offsets...)
        raise InputError(f"not a readable {kind} checkpoint: corrupt ({_one_line(exc)})", path) from None
    attach(loaded, FileBytes(path))
    checkpoint = _interpret(loaded, path, size)
    checkpoint._hash = hasher
    return checkpoint


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


def _check_file(path: str) -> int:
    if not os.path.exists(path):
        raise no_such_file(path)
    if os.path.isdir(path):
        raise InputError("is a directory, not a checkpoint file", path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the report
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise InputError(f"cannot be opened ({exc.strerror})", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError("not a regular file (a device, FIFO or socket), not a checkpoint", path)
    size = st.st_size
    if size == 0:
        raise InputError("file is empty", path)
    return size


def _load(kind: str, path: str, size: int) -> Loaded:
    if kind == "torch-zip":
        return load_zip(path)
    if kind == "safetensors":
        return load_safetensors(path, size)
    from reporter.checkpoint.legacy_tar import load_tar, open_tar

    archive = open_tar(path)  # torch.load tries its pre-0.4 tar format first
    if archive is not None:
        return load_tar(archive)
    return load_pickles(path, size)


def _interpret(loaded: Loaded, path: str, size: int) -> CheckpointFile:
    obj = loaded.obj
    records = list(loaded.registry.values())
    problems = [loaded.load_error] if loaded.load_error else []
    problems += loaded.notes
    hostile = any(r.kind == "refused-callable" for r in records)
    if max_depth(obj) >= NESTING:
        if not hostile:
            raise InputError(f"refused, beyond a bound: objects nested more than {NESTING} levels deep", path)
        problems.append(f"objects nested deeper than {NESTING} levels were not inspected")
    checkpoint = CheckpointFile(
        path=path, format=loaded.format, size_bytes=size, structure="none", top_level=_describe_top(obj),
        state_dict={}, foreign_globals=records, storages=loaded.storages, read_problems=problems,
        safetensors_metadata=loaded.safetensors_metadata, raw=obj,
    )
    if is_module(obj):
        _read_module(checkpoint, obj)
    elif isinstance(obj, dict) and "model_state_dict" in obj:
        _read_trainer(checkpoint, obj)
    elif isinstance(obj, dict) and obj and all(isinstance(v, TensorRef) for v in obj.values()):
        checkpoint.structure = "state-dict"
        checkpoint.state_dict = {str(k): v for k, v in obj.items()}
    elif isinstance(obj, dict) and any(isinstance(obj.get(k), dict) for k in _MODEL_KEYS[1:]):
        key = next(k for k in _MODEL_KEYS[1:] if isinstance(obj.get(k), dict))
        checkpoint.structure = "state-dict"
        checkpoint.state_dict = dict(iter_tensors(obj[key]))
    else:
        tensors = dict(iter_tensors(obj))
        if tensors:
            checkpoint.structure = "tensors"
            checkpoint.state_dict = tensors
        elif not checkpoint.refused and not problems:
            raise InputError(f"not a checkpoint: the pickle holds no tensors ({_type_name(obj)})", path)
    _mark_module_classes(checkpoint)
    checkpoint.storage_sections = _storage_sections(obj, checkpoint)
    return checkpoint


def _read_module(checkpoint: CheckpointFile, module: Any) -> None:
    checkpoint.structure = "module"
    checkpoint.module_class = module.origin
    checkpoint.module_classes = sorted(module_classes(module))
    checkpoint.state_dict = module_state_dict(module)


def _read_trainer(checkpoint: CheckpointFile, obj: dict) -> None:
    checkpoint.structure = "trainer-checkpoint"
    model = obj.get("model_state_dict")
    if is_module(model):
        checkpoint.module_class = model.origin
        checkpoint.state_dict = module_state_dict(model)
    elif isinstance(model, dict):
        checkpoint.state_dict = {str(k): v for k, v in model.items() if isinstance(v, TensorRef)}
    sections = {"optimizer": "optimizer_state_dict", "scheduler": "scheduler_state_dict",
                "early_stopping": "early_stopping_state_dict", "metrics": "metrics", "config": "config",
                "checkpoint_metadata": "checkpoint_metadata"}
    for attribute, key in sections.items():
        value = _plain(checkpoint, key, obj.get(key)) if key in obj else None
        if value is not None and not isinstance(value, dict):
            value = {"value": value}
        setattr(checkpoint, attribute, value)
    for key in ("epoch", "global_step", "best_loss", "suffix"):
        if key in obj:
            checkpoint.training[key] = _plain(checkpoint, key, obj[key])


def _plain(checkpoint: CheckpointFile, key: str, value: Any) -> Any:
    """``to_plain`` within its bound: beyond it the file is refused, unless it is already hostile
    (then the section is left out and the security findings are still reported)."""
    try:
        return to_plain(value)
    except LimitExceeded as exc:
        if not checkpoint.refused:
            raise InputError(f"refused, beyond a bound: {key}: {exc}", checkpoint.path) from None
        checkpoint.read_problems.append(f"{key} not read: {exc}")
        return None


def _mark_module_classes(checkpoint: CheckpointFile) -> None:
    classes = set(checkpoint.module_classes)
    if checkpoint.module_class:
        classes.add(checkpoint.module_class)
    for record in checkpoint.foreign_globals:
        if record.name in classes and record.kind == "data-holder":
            record.kind = "module-class"


def _storage_sections(obj: Any, checkpoint: CheckpointFile) -> dict[str, str]:
    """Which report section owns each storage (first claim wins: model, optimizer, early stopping)."""
    owners: dict[str, str] = {}
    for ref in checkpoint.state_dict.values():
        owners.setdefault(ref.storage.key, "model")
    if isinstance(obj, dict):
        for key, section in (("optimizer_state_dict", "optimizer"),
                             ("early_stopping_state_dict", "early-stopping copy")):
            for _, ref in iter_tensors(obj.get(key)):
                owners.setdefault(ref.storage.key, section)
    for _, ref in iter_tensors(obj):
        owners.setdefault(ref.storage.key, "other")
    return owners


def _describe_top(obj: Any) -> dict[str, str]:
    if isinstance(obj, dict):
        return {str(k): _type_name(v) for k, v in list(obj.items())[:200]}
    return {"<object>": _type_name(obj)}


def _type_name(value: Any) -> str:
    if isinstance(value, TensorRef):
        return f"tensor{list(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    if hasattr(value, "origin") and not isinstance(value, type):
        return value.origin
    if isinstance(value, (dict, list, tuple)):
        return f"{type(value).__name__}[{len(value)}]"
    return type(value).__name__
