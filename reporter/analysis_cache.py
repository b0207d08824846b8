"""A content-addressed cache of the expensive, model-only sections (data flow, memory, FLOPs).

Checkpoints of one task share one model, the tasks of a sweep share a few, and CI reports unchanged
inputs again: these sections depend only on what goes into their key, so a second report reuses them.

* **The key is everything the section depends on**: the section's own inputs (the resolved `model:`
  values, batch size, precision, target, optimizer settings...), plus a fingerprint of genesis-report's
  own code (every `reporter/**/*.py`), the report schema version, and the torch and Python versions.
  A stale entry is impossible by construction: any change to an input or to the code is another key.
* **Entries are verified, never trusted**: each file holds its key and a sha256 of its payload; a file
  that does not parse, whose key or checksum differs, or that is not private (owned by this user,
  writable by nobody else, in a 0700 folder) is ignored and rewritten. Writes go to a temporary file
  renamed into place, so concurrent reports never see half an entry.
* Off with `--no-cache` or `GENESIS_REPORT_NO_CACHE=1` (which also turns off the checkpoint digest cache).
  The folder is `$GENESIS_REPORT_CACHE_DIR`, else `$XDG_CACHE_HOME/genesis-report`, else
  `~/.cache/genesis-report`; entries live in its `analysis/` sub-folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from reporter.files import private

ENV_OFF = "GENESIS_REPORT_NO_CACHE"
MAX_ENTRY_BYTES = 64 << 20  # a memory section of a deep model is ~100 KB; anything near this is not ours
FORMAT = 1


def cache_folder() -> Path | None:
    """The analysis cache folder, or None when caching is off."""
    if os.environ.get(ENV_OFF):
        return None
    explicit = os.environ.get("GENESIS_REPORT_CACHE_DIR")
    if explicit:
        return Path(explicit) / "analysis"
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "genesis-report" / "analysis"


@cache
def code_fingerprint() -> str:
    """sha256 over genesis-report's own Python sources: another version of the tool is another key."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


@cache
def environment_fingerprint() -> dict[str, str]:
    """What besides our code changes a traced section: the torch build and the Python version."""
    from reporter.report.model import SCHEMA_VERSION

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "absent"
    return {"code": code_fingerprint(), "schema": SCHEMA_VERSION, "torch": torch_version,
            "python": f"{sys.version_info.major}.{sys.version_info.minor}", "format": str(FORMAT)}


def make_key(section: str, inputs: dict[str, Any]) -> str:
    """The entry's name: sha256 of the section, its inputs and the environment, as canonical JSON."""
    blob = json.dumps({"section": section, "inputs": inputs, "environment": environment_fingerprint()},
                      sort_keys=True, separators=(",", ":"), default=_jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return repr(value)


def load(key: str) -> str | None:
    """The payload stored under ``key``, or None (off, missing, not private, corrupt or another key)."""
    folder = cache_folder()
    if folder is None:
        return None
    path = folder / f"{key}.json"
    if not (private(folder) and private(path)):
        return None
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_ENTRY_BYTES + 1)
        entry = json.loads(raw) if len(raw) <= MAX_ENTRY_BYTES else None
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("payload"), str):
        return None
    if hashlib.sha256(entry["payload"].encode()).hexdigest() != entry.get("sha256"):
        return None
    return entry["payload"]


def store(key: str, payload: str) -> bool:
    """Write ``payload`` under ``key`` atomically; False (never an error) when it cannot be written."""
    folder = cache_folder()
    if folder is None:
        return False
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not private(folder):
            return False
        entry = json.dumps({"key": key, "sha256": hashlib.sha256(payload.encode()).hexdigest(),
                            "payload": payload})
        handle, tmp = tempfile.mkstemp(prefix=".entry.", suffix=".tmp", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(entry)
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        return False
    return True

