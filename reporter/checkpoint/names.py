"""GENESIS's checkpoint file names (reference §0, §3.1): what a name says that the file itself does not.

`{exp}_best.pt`, `{exp}_epoch_{NNNN}.pt` and `{exp}_epoch_{NNNN}_{suffix}.pt` (suffix `early_stop` or
`final`); the earliest trainer wrote `{exp}_epoch_{N}.pt` without zero-padding. The epoch is GENESIS's
0-based loop index. Only one mid-era trainer also stored `suffix` inside the file, so the name is the
record of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reporter.report.task import CheckpointKind

_NAME = re.compile(r"^(?P<exp>.+?)_(?:(?P<best>best)|epoch_(?P<epoch>\d+)(?:_(?P<suffix>[A-Za-z][A-Za-z_]*))?)$")


@dataclass(frozen=True)
class CheckpointName:
    kind: CheckpointKind
    epoch: int | None  # from the name (0-based), None for best/other
    experiment: str | None
    suffix: str | None  # "best", "early_stop", "final" or another word after the epoch; None for plain epochs


def parse_checkpoint_name(stem: str) -> CheckpointName:
    """What a checkpoint's file name (without extension) says, by GENESIS's conventions."""
    match = _NAME.match(stem)
    if not match:
        return CheckpointName(kind="other", epoch=None, experiment=None, suffix=None)
    if match["best"]:
        return CheckpointName(kind="best", epoch=None, experiment=match["exp"], suffix="best")
    suffix = match["suffix"]
    kind: CheckpointKind = "early_stop" if suffix == "early_stop" else "final" if suffix == "final" else "epoch"
    return CheckpointName(kind=kind, epoch=int(match["epoch"]), experiment=match["exp"], suffix=suffix)
