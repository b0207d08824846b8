"""Lazy tensor references: shapes and dtypes without touching data, memory-mapped data on demand.

The unpickler never builds real tensors; it builds :class:`TensorRef` objects that point at a byte
range of the file. Metadata questions (keys, shapes, bytes) are answered from them directly, and
statistics map the bytes read-only, so the data counts as reclaimable page cache, not process memory.
"""

from __future__ import annotations

import math
import mmap
import pickle
import warnings
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import torch

# Storage class names as torch pickles them (``torch.FloatStorage``...) mapped to their dtype.
STORAGE_DTYPES: dict[str, torch.dtype] = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}


@dataclass
class StorageRef:
    """One storage of the file: where its bytes are and what dtype the pickle says they hold."""

    key: str
    dtype: torch.dtype
    numel: int
    offset: int | None = None  # byte offset in the file, or in ``data`` when that is set
    data: Any = None  # a buffer (mmap of inflated bytes) for entries that cannot be mapped from the file

    @property
    def nbytes(self) -> int:
        return self.numel * element_size(self.dtype)

    def __setstate__(self, state: Any) -> None:
        # A pickle's BUILD on a storage could swap in bytes the file's storage does not hold; torch
        # reads the storage from the file whatever the pickle sets, so such a file is refused.
        raise pickle.UnpicklingError("the pickle sets state on a tensor storage (no torch.save writes that)")


@dataclass
class TensorRef:
    """A tensor as the pickle describes it, without its data."""

    storage: StorageRef
    storage_offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    is_parameter: bool = False
    requires_grad: bool = False
    _source: FileBytes | None = field(default=None, repr=False, compare=False)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * element_size(self.dtype)

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError("the pickle sets state on a tensor (no torch.save writes that)")

    def is_contiguous(self) -> bool:
        expected = 1
        for size, stride in zip(reversed(self.shape), reversed(self.stride), strict=True):
            if size != 1 and stride != expected:
                return False
            expected *= size
        return True

    def load(self) -> torch.Tensor:
        """The tensor's values, memory-mapped read-only where the format allows (never copied)."""
        if self._source is None:
            raise RuntimeError("tensor data is not attached to a file")
        base = self._source.storage_tensor(self.storage)
        if self.dtype != self.storage.dtype:
            base = base.view(self.dtype)
        return base.as_strided(self.shape, self.stride, self.storage_offset)

    def meta(self) -> torch.Tensor:
        """An empty tensor on the meta device with this shape and dtype (no data)."""
        return torch.empty_strided(self.shape, self.stride, dtype=self.dtype, device="meta")


_ELEMENT_SIZES: dict[torch.dtype, int] = {}


def element_size(dtype: torch.dtype) -> int:
    """Bytes per element of ``dtype`` (cached: a pickle may name it a hundred thousand times)."""
    size = _ELEMENT_SIZES.get(dtype)
    if size is None:
        size = _ELEMENT_SIZES[dtype] = torch.empty((), dtype=dtype).element_size()
    return size


class FileBytes:
    """A read-only memory map of a checkpoint file, shared by every tensor read from it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self._file: BinaryIO | None = None

    def _mapping(self) -> mmap.mmap:
        if self._map is None:
            self._file = handle = open(self.path, "rb")  # noqa: SIM115 - kept open for the map's lifetime
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def storage_tensor(self, storage: StorageRef) -> torch.Tensor:
        """The storage's bytes as a flat tensor of its dtype (a view of the map, or of held bytes)."""
        if storage.numel == 0:
            return torch.empty(0, dtype=storage.dtype)
        buffer = storage.data if storage.data is not None else self._mapping()
        offset = storage.offset or 0
        with warnings.catch_warnings():
            # The map is read-only on purpose: nothing may write to the user's file or copy it.
            warnings.simplefilter("ignore", UserWarning)
            return torch.frombuffer(buffer, dtype=storage.dtype, count=storage.numel, offset=offset)

    def close(self) -> None:
        # Tensors made from the map keep their own reference to its buffer; closing would break them,
        # so the map is released when the last reference goes.
        self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None
