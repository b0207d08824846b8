"""Output formats and how they are chosen from an output path's suffix."""

from __future__ import annotations

from pathlib import Path

from reporter.errors import InputError
from reporter.output_options import FORMATS

__all__ = ["FORMATS", "format_for_path"]
_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".json": "json", ".txt": "terminal"}


def format_for_path(path: str | Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        known = ", ".join(sorted(_SUFFIXES))
        raise InputError(f"cannot tell the output format from the suffix {suffix or '(none)'!r}; use one of "
                         f"{known} or --format", path)
    return _SUFFIXES[suffix]
