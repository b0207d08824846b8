"""The user's choices for one report: one typed, import-light definition for every command and the API.

Importing this module imports no torch and no analysis: `index` checks which task reports it can reuse,
and `compare` reads archived JSON reports, before (or without) any model is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from reporter.errors import InputError

#: Batch size of the data flow and memory figures when neither --batch-size nor data.batch_size says.
DEFAULT_BATCH_SIZE = 512


@dataclass
class ReportOptions:
    """User choices that change what a report contains or which numbers it shows."""

    verbose: bool = False
    batch_size: int | None = None
    model_class: str | None = None
    target: str | None = None  # None: follow the input (its device), then the user's default GPU
    gpu_memory: str | None = None
    sample_batch: int | None = None
    amp_dtype: Literal["fp16", "bf16"] | None = None  # None: fp16 on CUDA targets (as GENESIS trains), none on CPU
    memory: bool = True
    genesis_version: str | None = None  # --genesis-version: which GENESIS code a config is for
    cache: bool = True  # reuse data-flow and memory sections from the analysis cache (--no-cache)
    digest_cache: bool = True  # reuse a large checkpoint's sha256 (--no-digest-cache, --no-cache)
    verify_digest: bool = False  # always hash the checkpoint, refreshing the cache (--verify-digest)
    extra: dict[str, Any] = field(default_factory=dict)
    #: Called with finished charts while the report waits for work elsewhere (the traced sections, the
    #: checkpoint's sha256 thread): the CLI draws them then, so drawing overlaps that work. Not an option
    #: that shapes any number.
    while_waiting: Callable[[list[Any]], None] | None = field(default=None, repr=False, compare=False)

    def as_meta(self) -> dict[str, Any]:
        return {"verbose": self.verbose, "batch_size": self.batch_size, "model_class": self.model_class,
                "target": self.target, "gpu_memory": self.gpu_memory, "sample_batch": self.sample_batch,
                "amp_dtype": self.amp_dtype, "memory": self.memory, "genesis_version": self.genesis_version,
                **self.extra}


def options_from_flags(**values: Any) -> ReportOptions:
    """ReportOptions from command-line flags (None: not given); a flag for a field this build lacks is a
    bad-input error (compare and index share the report's options)."""
    names = {f.name for f in dataclasses.fields(ReportOptions)}
    given = {k: v for k, v in values.items() if v is not None}
    unknown = sorted(set(given) - names)
    if unknown:
        raise InputError(f"--{unknown[0].replace('_', '-')} is not available in this build")
    return ReportOptions(**given)
