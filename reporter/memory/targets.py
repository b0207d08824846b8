"""Hardware targets a prediction is made for: the CPU, named CUDA GPUs, or a GPU of a given size.

Device capacities are the totals ``nvidia-smi`` reports; CUDA context sizes are estimates (they depend on
the driver, CUDA version and which libraries load lazily) and are always shown as a separate labelled line,
never folded into the traced peak.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from reporter.errors import InputError

MiB = 1024**2
GiB = 1024**3

#: Caching-allocator block size: every CUDA allocation is rounded up to a multiple of 512 bytes.
CUDA_ALLOCATION_ROUNDING = 512

#: Allocator headroom assumed above the traced peak on CUDA (fragmentation of the caching allocator's
#: segments). An assumption, not a measurement: it is reported on its own labelled line.
CUDA_ALLOCATOR_HEADROOM_FRACTION = 0.10


@dataclass(frozen=True)
class TargetProfile:
    """Where the training step would run: memory capacity and the rules that change the trace."""

    name: str
    kind: str  # "cpu" or "cuda"
    memory_bytes: int
    compute_capability: tuple[int, int] | None = None
    cuda_context_bytes: int = 0
    context_measured: bool = False  # True where the context size comes from a measurement
    allocation_rounding: int = 1
    headroom_fraction: float = 0.0
    description: str = ""
    context_known: bool = True  # False for a GPU that was not chosen: its context is not shown

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    @property
    def capacity_known(self) -> bool:
        """False for a CUDA GPU that was not chosen: no capacity, no "fits" verdicts."""
        return self.memory_bytes > 0

    def round_allocation(self, nbytes: int) -> int:
        """Bytes the device allocator really reserves for a request of ``nbytes``."""
        if self.allocation_rounding <= 1 or nbytes == 0:
            return nbytes
        step = self.allocation_rounding
        return -(-nbytes // step) * step

    @property
    def backward_workspace_bytes(self) -> int:
        """cuBLAS workspace of the autograd engine's own thread (CUDA only).

        Backward runs on a separate thread whose cuBLAS handle gets its own workspace from the caching
        allocator in step 1 and keeps it: torch's default is 32 MiB on sm90 and 4096 KiB × 2 + 16 KiB × 8
        elsewhere (CUBLAS_WORKSPACE_CONFIG). Seen as a 33,554,432-byte block live at every step-2 peak on
        an H200 (bench/cuda_peak_breakdown.py).
        """
        if not self.is_cuda:
            return 0
        if self.compute_capability == (9, 0):
            return 32 * MiB
        return 4096 * 1024 * 2 + 16 * 1024 * 8

    def headroom_bytes(self, peak_bytes: int) -> int:
        """Allocator headroom to keep free above a peak (0 on the CPU)."""
        return int(peak_bytes * self.headroom_fraction)

    def usable_bytes(self) -> int:
        """Capacity left for the training step's tensors after the CUDA context."""
        return self.memory_bytes - self.cuda_context_bytes


def _total_bytes(name: str, total_mib: int | None, total_bytes: int | None) -> int:
    if total_bytes is not None:
        return total_bytes
    if total_mib is None:
        raise ValueError(f"CUDA target {name}: its memory is needed, in MiB or in bytes")
    return total_mib * MiB


def _cuda(
    name: str,
    total_mib: int | None,
    cc: tuple[int, int],
    context_mib: int,
    description: str,
    total_bytes: int | None = None,
) -> TargetProfile:
    return TargetProfile(
        name=name,
        kind="cuda",
        memory_bytes=_total_bytes(name, total_mib, total_bytes),
        compute_capability=cc,
        cuda_context_bytes=context_mib * MiB,
        context_measured=cc == (9, 0),
        allocation_rounding=CUDA_ALLOCATION_ROUNDING,
        headroom_fraction=CUDA_ALLOCATOR_HEADROOM_FRACTION,
        description=description,
    )


#: Named CUDA profiles: nvidia-smi total memory, compute capability, CUDA context. The sm90 context
#: (704 MiB) was measured on an H200 (torch 2.11, CUDA 13.0, driver 580): device memory outside
#: PyTorch's allocator after the kernels of a training step (matmul, flash attention forward and
#: backward, conv, layer norm) were loaded; 619 MiB right after initialisation. The other profiles'
#: contexts are estimates that were not measured.
CUDA_PROFILES: dict[str, TargetProfile] = {
    p.name: p
    for p in (
        _cuda("A100-40GB", 40_960, (8, 0), 512, "NVIDIA A100 40GB (sm80)"),
        _cuda("A100-80GB", 81_920, (8, 0), 512, "NVIDIA A100 80GB (sm80)"),
        _cuda("H100-80GB", 81_559, (9, 0), 704, "NVIDIA H100 80GB HBM3 (sm90)"),
        _cuda("H200-141GB", 143_771, (9, 0), 704, "NVIDIA H200 141GB HBM3e (sm90)"),
        _cuda("L4-24GB", 23_034, (8, 9), 384, "NVIDIA L4 24GB (sm89)"),
        _cuda("T4-16GB", 15_360, (7, 5), 384, "NVIDIA T4 16GB (sm75)"),
    )
}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {
    "": GiB,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": MiB,
    "g": GiB,
    "gb": 1000**3,
    "gib": GiB,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}


def parse_gpu_memory(text: str) -> int:
    """Parse a memory size such as ``24GB``, ``24GiB``, ``80 GB`` or ``16`` (GiB) into bytes.

    GB/MB/TB are decimal (what GPU vendors print), GiB/MiB binary; a bare number means GiB.
    """
    match = _SIZE.match(str(text))
    if not match:
        raise InputError(f"cannot read memory size {text!r} (expected e.g. 24GB, 24GiB or 24)")
    value, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit not in _UNITS:
        raise InputError(f"unknown memory unit in {text!r}")
    size = int(value * _UNITS[unit])
    if size <= 0:
        raise InputError(f"memory size {text!r} must be positive")
    return size


def generic_cuda_target() -> TargetProfile:
    """A CUDA GPU that was not chosen: sm80 kernel rules (A100/H100 class), no capacity, no context."""
    return TargetProfile(
        name="cuda", kind="cuda", memory_bytes=0, compute_capability=(8, 0), cuda_context_bytes=0,
        allocation_rounding=CUDA_ALLOCATION_ROUNDING, headroom_fraction=CUDA_ALLOCATOR_HEADROOM_FRACTION,
        description="a CUDA GPU not named: kernel rules of sm80 and newer assumed (A100/H100 class); "
                    "its memory and CUDA context are unknown",
        context_known=False,
    )


def cpu_target() -> TargetProfile:
    """This machine's CPU: capacity is its physical memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 0
    return TargetProfile(
        name="cpu", kind="cpu", memory_bytes=int(total), description="this machine's CPU and RAM"
    )


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def target_from_name(name: str, gpu_memory: str | int | None = None) -> TargetProfile:
    """Resolve ``--target`` (``cpu``, a profile name such as ``H100-80GB``/``h100``, or ``cuda``).

    ``gpu_memory`` (``--gpu-memory``) overrides the capacity of a CUDA profile; with ``cuda`` or an unknown
    GPU it defines a generic sm80 GPU of that size.
    """
    size = parse_gpu_memory(gpu_memory) if isinstance(gpu_memory, str) else gpu_memory
    key = _normalise(name)
    if key == "cpu":
        if size is not None:
            raise InputError("--gpu-memory only applies to CUDA targets, not --target cpu")
        return cpu_target()
    profile = next((p for n, p in CUDA_PROFILES.items() if _normalise(n) == key), None)
    if profile is None:
        matches = [p for n, p in CUDA_PROFILES.items() if _normalise(n).startswith(key)]
        profile = matches[0] if len(matches) == 1 else None
    if profile is not None:
        if size is None:
            return profile
        return TargetProfile(
            **{**profile.__dict__, "memory_bytes": size, "name": f"{profile.name} ({size / GiB:.1f} GiB)"}
        )
    if key in ("cuda", "gpu") and size is None:
        return generic_cuda_target()
    if key in ("cuda", "gpu") and size is not None:
        return _cuda(
            f"CUDA GPU {size / GiB:.1f} GiB",
            None,
            (8, 0),
            512,
            "generic CUDA GPU, assumed sm80 (flash attention available)",
            total_bytes=size,
        )
    known = ", ".join(["cpu", *CUDA_PROFILES, "cuda (optionally with --gpu-memory)"])
    raise InputError(f"unknown target {name!r}; known targets: {known}")
