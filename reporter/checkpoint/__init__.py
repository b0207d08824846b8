"""Safe, fast reading and analysis of GENESIS checkpoints (nothing in a file is ever executed).

Names are imported lazily (PEP 562): `reporter.checkpoint.names` (GENESIS's file-name conventions) is read
by task scanning and by JSON-only comparisons, which must not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CheckpointFile", "read_checkpoint"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'reporter.checkpoint' has no attribute {name!r}")
    value = getattr(importlib.import_module("reporter.checkpoint.reader"), name)
    globals()[name] = value
    return value
