"""Recognise GENESIS's task layout (reference §3.3) without reading any checkpoint.

A run started from `tasks/<name>/` writes `config.yaml` (copied by create_task.py),
`checkpoints/{exp}_best.pt`, `checkpoints/{exp}_epoch_{NNNN}[_{suffix}].pt` and
`logs/{exp}_training.txt` (relative to the task folder, because GENESIS's paths are CWD-relative).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reporter.checkpoint.names import parse_checkpoint_name
from reporter.errors import InputError
from reporter.report.task import CheckpointKind

CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass(frozen=True)
class CheckpointFile:
    path: Path
    kind: CheckpointKind
    epoch: int | None  # from the file name (0-based), None for best/other
    experiment: str | None
    size_bytes: int


@dataclass
class TaskFolder:
    root: Path
    config: Path | None
    checkpoints: list[CheckpointFile] = field(default_factory=list)
    training_logs: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def report_candidates(self) -> list[CheckpointFile]:
        """Checkpoints in the order a report tries them: best (newest first), then epochs newest first, then
        the rest. A trainer may be rewriting `*_best.pt` while CI reads it: the next one is then used."""
        def order(c: CheckpointFile) -> tuple:
            rank = 0 if c.kind == "best" else 1 if c.epoch is not None else 2
            return (rank, -(c.epoch or 0), c.kind == "epoch", -c.path.stat().st_mtime_ns, c.path.name)

        return sorted(self.checkpoints, key=order)

    def best_checkpoint(self) -> CheckpointFile | None:
        """`*_best.pt` when present, else the latest epoch file, else any checkpoint."""
        best = [c for c in self.checkpoints if c.kind == "best"]
        if best:
            return max(best, key=lambda c: c.path.stat().st_mtime)
        numbered = [c for c in self.checkpoints if c.epoch is not None]
        if numbered:
            return max(numbered, key=lambda c: (c.epoch, c.kind != "epoch"))
        return self.checkpoints[0] if self.checkpoints else None


def classify_checkpoint(path: Path) -> CheckpointFile:
    name = parse_checkpoint_name(path.stem)
    return CheckpointFile(path=path, kind=name.kind, epoch=name.epoch, experiment=name.experiment,
                          size_bytes=path.stat().st_size)


def is_task_folder(path: str | Path) -> bool:
    """A folder with `config.yaml` or a `checkpoints/` folder holding checkpoint files."""
    root = Path(path)
    if not root.is_dir():
        return False
    if (root / "config.yaml").is_file():
        return True
    ckpt = root / "checkpoints"
    return ckpt.is_dir() and any(p.suffix in CHECKPOINT_SUFFIXES for p in ckpt.iterdir())


def scan_task(path: str | Path) -> TaskFolder:
    root = Path(path)
    if not root.is_dir():
        raise InputError("not a folder", path)
    if not is_task_folder(root):
        raise InputError("not a GENESIS task folder (no config.yaml and no checkpoints/*.pt)", path)
    config = root / "config.yaml"
    ckpt_dir = root / "checkpoints"
    checkpoints = sorted((classify_checkpoint(p) for p in ckpt_dir.iterdir()
                          if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES), key=_order) if ckpt_dir.is_dir() else []
    logs_dir = root / "logs"
    logs = sorted(logs_dir.glob("*_training.txt")) if logs_dir.is_dir() else []
    return TaskFolder(root=root, config=config if config.is_file() else None, checkpoints=checkpoints,
                      training_logs=logs)


def _order(c: CheckpointFile) -> tuple:
    """Epoch files by epoch, then best, then unrecognised names."""
    return (c.epoch is None, c.epoch or 0, c.kind != "best", c.path.name)


def find_tasks(root: str | Path) -> list[Path]:
    """Task folders directly inside `root` (or `root` itself when it is one), sorted by name."""
    base = Path(root)
    if not base.is_dir():
        raise InputError("not a folder", root)
    found = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and is_task_folder(p))
    if not found and is_task_folder(base):
        return [base]
    return found


def input_files(paths: Iterable[str | Path | None]) -> list[Path]:
    """The files behind the inputs of a command: files as given, task folders as the files they hold."""
    found: list[Path] = []
    for path in paths:
        if not path:
            continue
        folder = Path(path)
        if not folder.is_dir():
            found.append(folder)
            continue
        tasks = [folder] if is_task_folder(folder) else find_tasks(folder)
        for task in tasks:
            scanned = scan_task(task)
            found += [c.path for c in scanned.checkpoints] + list(scanned.training_logs)
            if scanned.config is not None:
                found.append(scanned.config)
    return found
