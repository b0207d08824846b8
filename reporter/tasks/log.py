"""Loss history from GENESIS's training log (`logs/{exp}_training.txt`, a tee of the trainer's prints).

The trainer prints one block per epoch::

    📊 Epoch 3/100 Summary
      Time:       12.34s
      LR:         1.00e-04
      Train Loss: 0.123456
      Val Loss:   val_loss=0.120000      (or val_loss=N/A when not evaluated that epoch)

Progress bars (tqdm, carriage returns) and other prints are ignored.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

_HEADER = re.compile(r"Epoch\s+(\d+)\s*/\s*(\d+)\s+Summary")
_FLOAT = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)"
_TRAIN = re.compile(r"Train Loss:\s*" + _FLOAT, re.I)
_VAL = re.compile(r"Val Loss:\s*(?:val_loss=)?(?:" + _FLOAT + r"|N/A)", re.I)
_LR = re.compile(r"\bLR:\s*" + _FLOAT)


@dataclass
class LossHistory:
    """Per-epoch values in log order; epochs are 1-based as the trainer prints them."""

    epochs: list[int] = field(default_factory=list)
    total_epochs: int | None = None
    train_loss: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    learning_rate: list[float | None] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.epochs)


def parse_training_log(text: str) -> LossHistory:
    history = LossHistory()
    current: dict | None = None

    def flush() -> None:
        if current is not None and current["train"] is not None:
            epoch = current["epoch"]
            if epoch in history.epochs:  # a resumed run re-prints an epoch: keep the latest values
                i = history.epochs.index(epoch)
                for name in ("epochs", "train_loss", "val_loss", "learning_rate"):
                    getattr(history, name).pop(i)
            history.epochs.append(epoch)
            history.train_loss.append(current["train"])
            history.val_loss.append(current["val"])
            history.learning_rate.append(current["lr"])

    for raw in text.splitlines():
        line = raw.rsplit("\r", 1)[-1]
        header = _HEADER.search(line)
        if header:
            flush()
            current = {"epoch": int(header[1]), "train": None, "val": None, "lr": None}
            history.total_epochs = int(header[2])
            continue
        if current is None:
            continue
        if m := _TRAIN.search(line):
            current["train"] = _to_float(m[1])
        elif m := _VAL.search(line):
            current["val"] = _to_float(m[1]) if m[1] else None
        elif m := _LR.search(line):
            current["lr"] = _to_float(m[1])
    flush()
    return history


def _to_float(text: str) -> float:
    return float(text)


def read_log_text(path: str | Path, limit: int | None = None) -> tuple[str, bool]:
    """The log's text, at most ``limit`` bytes (``limits.LOG_BYTES``) of it, and whether it was cut.

    Only a regular file is read: a FIFO would block forever and ``/dev/zero`` never ends. The file is
    opened without blocking and checked on the open descriptor, so it cannot be swapped in between.
    """
    from reporter.errors import InputError
    from reporter.limits import LOG_BYTES

    limit = LOG_BYTES if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(f"training log cannot be opened ({exc.strerror})", path) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError("training log is not a regular file (not read)", path)
        data = handle.read(limit + 1)
    return data[:limit].decode("utf-8", errors="replace"), len(data) > limit


def read_training_log(path: str | Path) -> LossHistory:
    return parse_training_log(read_log_text(path)[0])
