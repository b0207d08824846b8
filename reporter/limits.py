"""Hard bounds on what an input file may make the reporter do, checked before the work is done.

A 1 KB file can claim terabytes, nest objects a million levels deep or ask for a model that takes hours
to trace, so every reader checks the claim against a bound first. A file beyond a bound is refused
(exit 2, the message names the bound); a config beyond a trace bound still gets its report, with the
traced sections skipped and a finding naming the bound. The figures here are the documented limits
(README, "Bounds"); each was chosen well above anything a GENESIS run writes and well below what costs
more than a few seconds or a few hundred MB on two cores.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# --- pickles (data.pkl of a zip checkpoint, each pickle of a legacy file, a raw pickle) --------------
PICKLE_BYTES = 64 * MiB  # bytes one pickle may span (data.pkl of a 10k-tensor checkpoint: ~1 MB)
PICKLE_OPCODES = 4_000_000  # opcodes one pickle may execute (~30 per tensor; ~4 s of reading)
PICKLE_LINE = 1 * MiB  # one text line of a protocol-0 pickle (a GLOBAL name, a decimal number)
NESTING = 200  # containers inside containers (GENESIS checkpoints nest < 10 deep)
CONTAINER_ITEMS = 1_000_000  # items of one list/dict/set/tuple, also sizes given to set(), range()...
HASH_COLLISIONS = 256  # keys of one dict or set that share one hash value (hash flooding)
TENSORS = 100_000  # tensor references in one file (a GENESIS trainer checkpoint holds < 2,000)
PLAIN_NODES = 200_000  # values one embedded config/metrics/optimizer tree may expand to
REPR_CHARS = 200  # characters of a value shown in a report (built lazily, never the whole repr first)

# --- tensors --------------------------------------------------------------------------------------
TENSOR_DIMS = 64  # dimensions of one tensor (torch's own limit is 64 for most kernels)
VIEW_EXCESS = 1 << 20  # elements a tensor may view beyond its storage (overlapping/broadcast strides)
VIEW_EXCESS_TOTAL = 1 << 24  # the same, summed over the file

# --- zip containers -----------------------------------------------------------------------------------
INFLATED_BYTES = 1 * GiB  # bytes all compressed entries may inflate to (streamed to a temporary file)
COMPRESSION_RATIO = 1100  # inflated / compressed size of one entry (deflate's own maximum is ~1032)

# --- safetensors --------------------------------------------------------------------------------------
SAFETENSORS_HEADER = 100 * MiB  # the safetensors library's own header limit

# --- configs and logs -----------------------------------------------------------------------------
CONFIG_BYTES = 1 * MiB  # a YAML config (GENESIS configs are ~5 KB; PyYAML parses ~1 MB/s)
CONFIG_KEYS = 1_000  # keys of one mapping in a config (a GENESIS section has < 60)
LOG_BYTES = 32 * MiB  # bytes of one training log read for the loss history (the rest is not read)

# --- building and tracing a model (configs) -----------------------------------------------------------
BUILD_MODULES = 20_000  # modules a config may ask to build (depth 1,000 of the default DiT: 16,023; 6.5 s)


@dataclass(frozen=True)
class TraceBounds:
    """What a model may ask of the traced sections before they are skipped with a finding.

    Measured on 2 cores (torch 2.13, default DiT config at depths 3-100): tracing the data flow costs
    about 9 ms per leaf module, the memory section (five traced training steps) about 0.1 s per leaf
    module; depth 30 (346 leaf modules) took 3.7 s and 35 s, depth 100 (1,103) 10 s and 75 s.
    """

    flow_modules: int = 2_000  # leaf modules traced for the data flow (about 20 s)
    memory_modules: int = 300  # leaf modules traced for memory and FLOPs (about 30 s)
    parameters: int = 10**15  # parameter elements (byte counts of fake tensors must stay in int64)
    activation_elements: int = 1 << 50  # batch × per-sample input elements × widest parameter dimension


TRACE = TraceBounds()


class LimitExceeded(Exception):
    """An input asks for more than a bound allows; the message names the bound."""


def check(value: int, bound: int, what: str) -> None:
    """Raise :class:`LimitExceeded` naming ``what`` and the bound when ``value`` exceeds it."""
    if value > bound:
        raise LimitExceeded(f"{what}: {value:,} exceeds the bound of {bound:,}")


@contextlib.contextmanager
def build_guard(bound: int | None = None) -> Iterator[None]:
    """Stop building a model as soon as it registers more than ``bound`` (``BUILD_MODULES``) submodules:
    a config with ``depth: 1000000`` would otherwise take hours and gigabytes before any check ran."""
    import torch

    bound = BUILD_MODULES if bound is None else bound
    count = 0

    def hook(module: Any, name: str, submodule: Any) -> None:
        nonlocal count
        count += 1
        if count > bound:
            raise LimitExceeded(f"the model has more than {bound:,} modules (bound for building a model)")

    handle = torch.nn.modules.module.register_module_module_registration_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@dataclass
class TracePlan:
    """Why each traced section is skipped (None: trace it)."""

    flow: str | None = None
    memory: str | None = None


def plan_traces(module: Any, example_inputs: Callable[[int], Any], batch_size: int) -> TracePlan:
    """Decide from the built (meta) model, before tracing, whether each traced section stays in bounds.

    ``example_inputs(n)`` builds the model's inputs for batch ``n`` (on the meta device); it is called
    with n = 1 only, so a batch of 10^12 never becomes a tensor.
    """
    leaves = sum(1 for m in module.modules() if next(m.children(), None) is None)
    parameters = sum(p.numel() for p in module.parameters())
    width = max((max(p.shape, default=1) for p in module.parameters()), default=1)
    try:
        sample = example_inputs(1)
        tensors = sample.values() if isinstance(sample, dict) else sample
        per_sample = max((t.numel() for t in tensors if hasattr(t, "numel")), default=1)
    except Exception:  # noqa: BLE001 - inputs that cannot be built are the tracer's own finding
        per_sample = 1
    activation = batch_size * per_sample * width
    plan = TracePlan()
    if activation > TRACE.activation_elements:
        reason = (f"batch {batch_size:,} × {per_sample:,} input elements per sample × width {width:,} = "
                  f"{activation:,} activation elements (bound: {TRACE.activation_elements:,})")
        plan.flow = plan.memory = reason
    if leaves > TRACE.flow_modules:
        plan.flow = plan.flow or f"the model has {leaves:,} leaf modules (bound for tracing: {TRACE.flow_modules:,})"
    if leaves > TRACE.memory_modules:
        plan.memory = plan.memory or (f"the model has {leaves:,} leaf modules (bound for tracing training "
                                      f"steps: {TRACE.memory_modules:,}; --no-memory skips this section)")
    if parameters > TRACE.parameters:
        plan.memory = plan.memory or f"{parameters:,} parameter elements (bound: {TRACE.parameters:,})"
    return plan


@contextlib.contextmanager
def quiet_torch() -> Iterator[None]:
    """No torch log lines or warnings on stderr while tracing: a failed trace becomes a finding, and
    fake-tensor tracebacks logged by torch would only repeat it (35 lines each)."""
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name == "torch" or name.startswith("torch.")]
    root = logging.getLogger("torch")
    saved = [(logger, logger.disabled) for logger in loggers]
    silence = logging.Filter("genesis-report: silenced")  # matches no torch logger name
    handlers = {id(h): h for logger in [root, *loggers] for h in logger.handlers}.values()
    null = logging.NullHandler()
    root.addHandler(null)  # so records of loggers created meanwhile never reach logging.lastResort
    for logger in loggers:
        logger.disabled = True
    for handler in handlers:
        handler.addFilter(silence)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, disabled in saved:
            logger.disabled = disabled
        for handler in handlers:
            handler.removeFilter(silence)
        root.removeHandler(null)
