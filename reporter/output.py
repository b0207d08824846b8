"""Write reports atomically: a reader never sees a half-written report, and a failure leaves none."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from reporter.errors import InputError, no_such_file

if TYPE_CHECKING:
    from reporter.render import Rendered


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_folder(path: str | Path) -> Path:
    """The folder a report will be written to; a missing one is bad input, found before any analysis."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise no_such_file(parent, "folder")
    return parent


def write_rendered(path: str | Path, rendered: Rendered) -> None:
    """Write the document and its side files (e.g. `<stem>_files/*.svg`); replace old ones only on success."""
    target = Path(path)
    parent = check_output_folder(target)
    staged_dirs: list[tuple[Path, Path]] = []
    try:
        folders = sorted({Path(rel).parts[0] for rel in rendered.files if len(Path(rel).parts) > 1})
        for folder in folders:
            staging = Path(tempfile.mkdtemp(prefix=f".{folder}.", dir=parent))
            staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; a report folder is an ordinary folder
            staged_dirs.append((staging, parent / folder))
        for rel, content in rendered.files.items():
            parts = Path(rel).parts
            staging = next(s for s, final in staged_dirs if final.name == parts[0])
            (staging / Path(*parts[1:])).parent.mkdir(parents=True, exist_ok=True)
            (staging / Path(*parts[1:])).write_text(content, encoding="utf-8")
        handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(rendered.text)
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600
        for staging, final in staged_dirs:
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        os.replace(tmp_name, target)
    except OSError as exc:
        for staging, _ in staged_dirs:
            shutil.rmtree(staging, ignore_errors=True)
        if "tmp_name" in locals() and Path(tmp_name).exists():
            Path(tmp_name).unlink()
        raise InputError(f"cannot write report: {exc.strerror or exc}", target) from None
