"""Hard bounds on what an input file may make the reporter do, checked before the work is done.

A 1 KB file can claim terabytes, nest objects a million levels deep or ask for a model that takes hours
to trace, so every reader checks the claim against a bound first. A file beyond a bound is refused
(exit 2, the message names the bound); a config beyond a trace bound still gets its report, with the
traced sections skipped and a finding naming the bound. The figures here are the documented limits
(README, "Bounds"); each was chosen well above anything a GENESIS run writes and well below what costs
more than a few seconds or a few hundred MB on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass

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

# --- tracing (data flow, memory, FLOPs run the model on fake tensors) -----------------------------------
@dataclass(frozen=True)
class TraceBounds:
    """What a config may ask of the traced sections before they are skipped with a finding.

    Measured on 2 cores (torch 2.13, bench/trace_bounds.py): tracing costs about 2.4 ms per traced
    operator call per traced step; the memory section traces five steps, so a model of 40,000 calls
    takes about 8 minutes while the default config's ~300 calls take well under a second.
    """

    calls: int = 6_000  # traced operator calls of one forward pass (estimated from the module tree)
    parameters: int = 20_000_000_000  # parameter elements of the model (built on the meta device)
    activation_elements: int = 1 << 50  # batch × sequence × width of one activation


TRACE = TraceBounds()
BUILD_MODULES = 100_000  # modules a config may ask to build at all (depth × per-block modules)


class LimitExceeded(Exception):
    """An input asks for more than a bound allows; the message names the bound."""


def check(value: int, bound: int, what: str) -> None:
    """Raise :class:`LimitExceeded` naming ``what`` and the bound when ``value`` exceeds it."""
    if value > bound:
        raise LimitExceeded(f"{what}: {value:,} exceeds the bound of {bound:,}")
