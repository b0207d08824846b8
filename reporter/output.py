"""Write reports safely: never over an input, all outputs or none, a reader never sees a half-written one.

``check_outputs`` runs before any analysis: every output folder must exist and be writable, and no
output (nor a Markdown report's ``<stem>_files/`` folder) may be, or link to, an input file — ``-o
ckpt.pt`` must not replace the checkpoint it reports on. ``write_all`` then stages every document and
side folder as temporary files in the target folders and renames them into place only when all of
them were written, so when the second of several ``-o`` cannot be written, none is left behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reporter.errors import InputError, no_such_file

if TYPE_CHECKING:
    from reporter.render import Rendered
    from reporter.render.render import Kind
    from reporter.report.base import ReportModel


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()  # follows symbolic links: a link to an input is that input
    except OSError:
        return None
    return st.st_dev, st.st_ino


def side_folder(path: str | Path) -> Path:
    """The folder a Markdown report keeps its chart files in (replaced when the report is written)."""
    target = Path(path)
    return _parent(target) / f"{target.stem}_files"


def check_outputs(outputs: Sequence[str | Path], inputs: Iterable[str | Path],
                  may_create: Iterable[str | Path] = ()) -> None:
    """Refuse (exit 2, before any work) outputs that cannot be written or would overwrite an input.

    ``may_create`` names output folders the command creates itself (a task's ``reports/``): their
    parent must then be writable instead.
    """
    creatable = {Path(p) for p in may_create}
    input_paths = [Path(p) for p in inputs]
    identities = {ident: p for p in input_paths if (ident := _identity(p)) is not None}
    resolved_inputs = [(p, p.resolve()) for p in input_paths]
    seen: dict[Path, str] = {}
    for output in outputs:
        target = Path(output)
        folder = _parent(target)
        if folder in creatable and not folder.exists():
            folder = _parent(folder)
        if not folder.is_dir():
            raise no_such_file(folder, "folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError("output folder is not writable", folder)
        if target.is_dir():
            raise InputError("output is a folder, not a file", target)
        resolved = target.resolve()
        if resolved in seen:
            raise InputError(f"the same output is given twice ({seen[resolved]})", target)
        seen[resolved] = str(output)
        target_identity = _identity(target)
        same = identities.get(target_identity) if target_identity else None
        if same is None:
            same = next((p for p, r in resolved_inputs if r == resolved), None)
        if same is not None:
            raise InputError(f"output would overwrite the input {same}; choose another output path", target)
        files = side_folder(target).resolve()
        inside = next((p for p, r in resolved_inputs if r == files or files in r.parents), None)
        if inside is not None:
            raise InputError(f"output would replace {side_folder(target)}/, which holds the input {inside}", target)


class _Staged:
    """One output written to temporary names next to its target, not yet renamed into place."""

    def __init__(self, path: str | Path, rendered: Rendered) -> None:
        self.target = Path(path)
        self.folder = _parent(self.target)
        self.tmp: Path | None = None
        self.dirs: list[tuple[Path, Path]] = []  # (staging folder, final folder)
        self.existed = self.target.exists()
        self._write(rendered)

    def _write(self, rendered: Rendered) -> None:
        if not self.folder.is_dir():
            raise no_such_file(self.folder, "folder")
        folders = sorted({Path(rel).parts[0] for rel in rendered.files if len(Path(rel).parts) > 1})
        for folder in folders:
            staging = Path(tempfile.mkdtemp(prefix=f".{folder}.", dir=self.folder))
            staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; a report folder is an ordinary folder
            self.dirs.append((staging, self.folder / folder))
        for rel, content in rendered.files.items():
            parts = Path(rel).parts
            staging = next(s for s, final in self.dirs if final.name == parts[0])
            (staging / Path(*parts[1:])).parent.mkdir(parents=True, exist_ok=True)
            (staging / Path(*parts[1:])).write_text(content, encoding="utf-8")
        handle, name = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=self.folder)
        self.tmp = Path(name)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(rendered.text)
        os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp makes 0600

    def commit(self) -> None:
        for staging, final in self.dirs:
            old = None
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=self.folder))
                os.replace(final, old / final.name)
            os.replace(staging, final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        self.dirs = []
        assert self.tmp is not None
        os.replace(self.tmp, self.target)
        self.tmp = None

    def discard(self) -> None:
        for staging, _ in self.dirs:
            shutil.rmtree(staging, ignore_errors=True)
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def write_all(documents: Sequence[tuple[str | Path, Rendered]]) -> None:
    """Write every document or none: all are staged first, then renamed into place."""
    staged: list[_Staged] = []
    current: str | Path | None = None
    try:
        for path, rendered in documents:
            current = path
            staged.append(_Staged(path, rendered))
        committed: list[_Staged] = []
        for item in staged:
            current = item.target
            item.commit()
            committed.append(item)
    except OSError as exc:
        for item in staged:
            item.discard()
        for item in locals().get("committed", []):
            if not item.existed:  # a replaced report cannot be restored, a new one is removed again
                item.target.unlink(missing_ok=True)
        raise InputError(f"cannot write report: {exc.strerror or exc}", current) from None
    except BaseException:
        for item in staged:
            item.discard()
        raise


def write_documents(kind: Kind, model: ReportModel, outputs: Sequence[tuple[str | Path, str]], *,
                    embed_images: bool = False, verbose: bool = False, cache: bool = True) -> None:
    """Render every (path, format) output, then write them all or none: a failure in any rendering
    leaves no partial set of files. A Markdown output's charts go to `<stem>_files/`."""
    from reporter.render import render_document

    write_all([(path, render_document(kind, model, fmt, stem=Path(path).stem, embed_images=embed_images,
                                      verbose=verbose, cache=cache)) for path, fmt in outputs])


def publish(kind: Kind, model: ReportModel, outputs: Sequence[tuple[str | Path, str]], *, stdout: str | None,
            embed_images: bool = False, verbose: bool = False, cache: bool = True) -> None:
    """What every command does with its document: write the outputs (all or none), print it to stdout
    in the ``stdout`` format (None: quiet), and say on stderr what was written. ``cache`` False
    (--no-cache) keeps chart drawings and compiled templates out of the analysis cache."""
    from reporter.render import render_document
    from reporter.render.escape import visible

    write_documents(kind, model, outputs, embed_images=embed_images, verbose=verbose, cache=cache)
    if stdout is not None:
        sys.stdout.write(render_document(kind, model, stdout, verbose=verbose, cache=cache).text)
    for path, _ in outputs:
        print(f"wrote {visible(str(path))} ({os.path.getsize(path):,} bytes)", file=sys.stderr)


def stdout_format(explicit: str | None, outputs: Sequence[object], quiet: bool) -> str | None:
    """The format printed to stdout: --format when no -o takes it, else the terminal text; None with -q."""
    if quiet:
        return None
    return explicit if (explicit and not outputs) else "terminal"
