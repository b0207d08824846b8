"""Report metadata: tool versions, input files by content hash, and a reproducible timestamp."""

from __future__ import annotations

import hashlib
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reporter import __version__
from reporter.report.model import InputFile, InputRole, ReportMeta, ToolInfo


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def describe_input(role: InputRole, path: str | Path, sha256: str | None = None, from_cache: bool = False) -> InputFile:
    p = Path(path)
    return InputFile(role=role, path=str(path), size_bytes=p.stat().st_size, sha256=sha256 or sha256_file(p),
                     sha256_from_cache=bool(sha256) and from_cache)


def _torch_version() -> str:
    """torch's version without importing torch (an index of reused reports must not pay for the import)."""
    import sys

    if "torch" in sys.modules:
        return sys.modules["torch"].__version__.split("+")[0]
    from importlib import metadata

    try:
        return metadata.version("torch").split("+")[0]
    except metadata.PackageNotFoundError:
        return "absent"


def generation_time() -> tuple[str, bool]:
    """UTC time of generation; SOURCE_DATE_EPOCH (reproducible builds convention) wins when set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and epoch.strip().isdigit():
        moment = datetime.fromtimestamp(int(epoch), tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ"), True
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), False


def build_meta(inputs: list[InputFile], options: dict[str, Any], cached_sections: list[str] | None = None,
               ) -> ReportMeta:
    generated_at, reproducible = generation_time()
    return ReportMeta(
        tool=ToolInfo(version=__version__, torch_version=_torch_version(),
                      python_version=platform.python_version()),
        generated_at=generated_at,
        reproducible=reproducible,
        inputs=inputs,
        options=options,
        cached_sections=sorted(cached_sections or []),
    )
