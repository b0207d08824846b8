"""Remember the sha256 of large checkpoints so a second report on the same file does not re-hash it —
without ever letting a report carry a wrong digest.

Hashing is the slowest part of a checkpoint report (about 1.3 GB/s on one core, 6× a warm `cat`). A
digest is reused only while the file's device, inode, size, nanosecond mtime *and ctime* are unchanged.
ctime matters: ``touch -d`` or ``os.utime`` can put an edited file's mtime back, but any change to the
file sets its ctime to "now", which no user call can restore. Three more rules keep the digest right:

* Private cache: the folder is created 0700 and an entry is used only from a cache folder and file
  owned by this user and writable by nobody else (a planted entry in a shared folder is ignored).
* No racy entries: a digest is stored only if the file's identity is the same before and after the
  hash (it did not change while it was hashed) and its mtime/ctime are at least ``RACY_NS`` older than
  the start of the hash — git's racy-index rule: a write in the same timestamp tick as the hash would
  otherwise leave the identity unchanged.
* Verification: ``--verify-digest`` (the default when ``CI=true``) always hashes; reports say when
  their sha256 came from the cache.

Set GENESIS_REPORT_NO_CACHE=1 (or pass --no-digest-cache, which reaches `read_checkpoint` as an
argument) to neither read nor write the cache. Failures
to read or write the cache never fail a report.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from reporter.files import IDENTITY_KEYS, identity, private

MIN_SIZE = 64 << 20  # small files hash in well under 0.1 s: not worth an entry
MAX_ENTRIES = 256
MAX_CACHE_BYTES = 1 << 20
RACY_NS = 2_000_000_000  # coarsest common timestamp granularity (FAT: 2 s)

Identity = dict[str, int]


def cache_file() -> Path | None:
    if os.environ.get("GENESIS_REPORT_NO_CACHE"):
        return None
    base = os.environ.get("GENESIS_REPORT_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    folder = root if os.environ.get("GENESIS_REPORT_CACHE_DIR") else root / "genesis-report"
    return folder / "sha256-v2.json"


def verify_always() -> bool:
    """Whether the user's environment asks for every digest to be computed (GENESIS_REPORT_VERIFY_DIGEST,
    or CI=true)."""
    if os.environ.get("GENESIS_REPORT_VERIFY_DIGEST"):
        return True
    return os.environ.get("CI", "").lower() == "true"


def _load(cache: Path) -> dict[str, dict]:
    if not (private(cache.parent) and private(cache)):
        return {}
    try:
        with open(cache, "rb") as handle:
            raw = handle.read(MAX_CACHE_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_CACHE_BYTES else None
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError, RecursionError):
        return {}


def lookup(path: str, *, verify: bool = False) -> str | None:
    """The cached digest of `path` if the file is unchanged since it was hashed (None: hash it).
    ``verify`` (--verify-digest) always hashes, as does CI=true."""
    cache = cache_file()
    if cache is None or verify or verify_always():
        return None
    current = identity(path)
    if current is None or current["size"] < MIN_SIZE:
        return None
    entry = _load(cache).get(os.path.realpath(path))
    if isinstance(entry, dict) and all(entry.get(k) == current[k] for k in IDENTITY_KEYS):
        digest = entry.get("sha256")
        if isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            return digest
    return None


def racy(before: Identity, started_ns: int) -> bool:
    """Whether a write could have gone unnoticed: the file changed within RACY_NS of the hash start."""
    return max(before["mtime_ns"], before["ctime_ns"]) >= started_ns - RACY_NS


def store(path: str, digest: str, before: Identity | None, started_ns: int) -> bool:
    """Remember ``digest`` when it is certainly the digest of the file as it is now; True if stored.

    ``before`` is the file's identity taken just before hashing started at ``started_ns``
    (``time.time_ns()``).
    """
    cache = cache_file()
    if cache is None or before is None:
        return False
    after = identity(path)
    if after is None or after != before or after["size"] < MIN_SIZE or racy(before, started_ns):
        return False
    try:
        folder = cache.parent
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True)
        if not private(folder) or (cache.exists() and not private(cache)):
            return False
        entries = _load(cache)
        key = os.path.realpath(path)
        entries.pop(key, None)
        entries[key] = {**after, "sha256": digest}
        while len(entries) > MAX_ENTRIES:
            entries.pop(next(iter(entries)))
        handle, tmp = tempfile.mkstemp(dir=folder, prefix=".sha256.", suffix=".tmp")  # created 0600
        with os.fdopen(handle, "w") as out:
            json.dump(entries, out)
        os.replace(tmp, cache)
        return True
    except OSError:
        return False


def now_ns() -> int:
    return time.time_ns()
