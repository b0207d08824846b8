"""Loss history from GENESIS's training log (`logs/{exp}_training.txt`, a tee of the trainer's prints).

The trainer prints one block per epoch (reference §6)::

    ======================================================================
    📊 Epoch 3/100 Summary
    ======================================================================
      Time:       12.34s
      LR:         1.00e-04
      Train Loss: 0.123456
      Val Loss:   0.120000        (also seen as `val_loss=0.120000`, or `val_loss=N/A` when not evaluated)
      Early Stop: patience=0/4
    ======================================================================

and, outside those blocks, lines that mention a validation loss but are not an epoch's value:
`💾 New best model! Val loss: X` (after the epoch that improved) and, on early stop,
`Best val loss: X at epoch N`. Only the fields of an epoch's summary block, spelled exactly as the trainer
prints them (`Train Loss:`, `Val Loss:`, `LR:` at the start of the line), belong to that epoch's history.
Progress bars (tqdm, carriage returns) and every other print are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_HEADER = re.compile(r"Epoch\s+(\d+)\s*/\s*(\d+)\s+Summary")
_RULE = re.compile(r"^\s*[=━─-]{10,}\s*$")
_FLOAT = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)"
_END = r"(?=\s|$)"
_TRAIN = re.compile(r"^\s*Train Loss:\s*" + _FLOAT + _END)
_VAL = re.compile(r"^\s*Val Loss:\s*(?:val_loss=)?(?:" + _FLOAT + r"|N/A)" + _END)
_LR = re.compile(r"^\s*LR:\s*" + _FLOAT + _END)


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
    current: dict | None = None  # the open epoch-summary block, None outside one

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
            current = {"epoch": int(header[1]), "train": None, "val": None, "lr": None, "fields": 0}
            history.total_epochs = int(header[2])
            continue
        if current is None:
            continue
        if _RULE.match(line):
            if current["fields"]:  # the rule that closes the block (the one after the header opens it)
                flush()
                current = None
            continue
        if m := _TRAIN.match(line):
            current["train"] = _to_float(m[1])
        elif m := _VAL.match(line):
            current["val"] = _to_float(m[1]) if m[1] else None
        elif m := _LR.match(line):
            current["lr"] = _to_float(m[1])
        else:
            continue
        current["fields"] += 1
    flush()
    return history


def _to_float(text: str) -> float:
    return float(text)


def read_log_text(path: str | Path, limit: int | None = None) -> tuple[str, bool]:
    """The log's text, at most ``limit`` bytes (``limits.LOG_BYTES``) of it, and whether it was cut.

    Only a regular file is read: a FIFO would block forever and ``/dev/zero`` never ends. The file is
    opened without blocking and checked on the open descriptor, so it cannot be swapped in between.
    """
    from reporter.files import read_regular_file
    from reporter.limits import LOG_BYTES

    limit = LOG_BYTES if limit is None else limit
    data = read_regular_file(path, limit, cannot_open="training log cannot be opened ({reason})",
                             not_regular="training log is not a regular file (not read)")
    return data[:limit].decode("utf-8", errors="replace"), len(data) > limit


def read_training_log(path: str | Path) -> LossHistory:
    return parse_training_log(read_log_text(path)[0])
