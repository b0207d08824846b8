"""Small file checks shared by the readers and the caches: the one place that knows how to read a file
an attacker may have replaced by a FIFO, a device or a link, and when a cache file can be trusted.

Import-light (standard library only): the config loader, the training-log reader, the digest and
analysis caches and the task fingerprint all use it, with or without torch.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: The fields of a file's identity: an edit changes at least one (ctime even when mtime is put back).
IDENTITY_KEYS = ("dev", "ino", "size", "mtime_ns", "ctime_ns")


def read_regular_file(path: str | Path, limit: int, *, cannot_open: str, not_regular: str) -> bytes:
    """At most ``limit + 1`` bytes of a regular file (one byte more than the bound tells the caller that
    the file is larger). The file is opened without blocking (a FIFO would block forever, ``/dev/zero``
    never ends) and checked on the open descriptor, so it cannot be swapped in between.

    ``cannot_open`` is the error message when it cannot be opened (``{reason}``: the system's reason),
    ``not_regular`` when it is not a regular file; both are raised as InputError naming ``path``.
    """
    from reporter.errors import InputError

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(cannot_open.format(reason=exc.strerror), path) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(not_regular, path)
        return handle.read(limit + 1)


def private(path: Path) -> bool:
    """Owned by this user and writable by nobody else, and not a link (so nobody else can have planted it)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            and not stat.S_ISLNK(st.st_mode))


def identity(path: str | Path) -> dict[str, int] | None:
    """Device, inode, size and nanosecond mtime and ctime (following links); None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns}
