"""Peak memory over a range of batch sizes, and the largest batch size that fits a target.

Every phase's peak (forward, backward, optimizer) grows linearly with the batch size once per-sample
tensors dominate, so two traced steps give a per-phase line; the sweep's curve is the maximum of those
lines. The figure users act on — the largest batch that fits — is then confirmed by tracing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from reporter.memory.predict import MemoryPrediction, TrainingTrace
from reporter.memory.step import Precision
from reporter.memory.targets import TargetProfile

MAX_BATCH = 1 << 20


@dataclass(frozen=True)
class BatchSweep:
    precision: Precision
    batch_sizes: list[int]
    peak_bytes: list[int]
    traced: list[bool]  # True where the point was traced, False where read off the per-phase lines
    capacity_bytes: int | None  # what the step's tensors may use on the target; None: capacity unknown
    largest_fitting_batch: int | None  # None: even batch size 1 does not fit, or the capacity is unknown
    largest_fitting_peak_bytes: int | None


def fits(target: TargetProfile, peak_bytes: int) -> bool:
    """Whether a step with this traced peak fits, counting CUDA context and allocator headroom."""
    return peak_bytes + target.headroom_bytes(peak_bytes) + target.cuda_context_bytes <= target.memory_bytes


def step_capacity(target: TargetProfile) -> int:
    """Largest traced peak that still fits (the capacity line of the chart)."""
    return int((target.memory_bytes - target.cuda_context_bytes) / (1.0 + target.headroom_fraction))


class _Lines:
    """Per-phase straight lines through two traced steps."""

    def __init__(self, a: MemoryPrediction, b: MemoryPrediction) -> None:
        self.lines = {}
        for phase in set(a.phase_peaks) | set(b.phase_peaks):
            ya, yb = a.phase_peaks.get(phase, a.peak_bytes), b.phase_peaks.get(phase, b.peak_bytes)
            slope = (yb - ya) / (b.batch_size - a.batch_size)
            self.lines[phase] = (ya - slope * a.batch_size, slope)

    def __call__(self, batch: int) -> int:
        return int(max(c + s * batch for c, s in self.lines.values()))

    def largest_below(self, limit: int) -> int:
        """Largest batch whose fitted peak is ≤ limit (0 if none)."""
        lo, hi = 0, MAX_BATCH
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self(mid) <= limit:
                lo = mid
            else:
                hi = mid - 1
        return lo


def sweep_batch_sizes(
    trace: TrainingTrace, batch_size: int, precision: Precision, *, main: MemoryPrediction | None = None
) -> BatchSweep:
    """Sweep powers of two around ``batch_size`` and find the largest batch size that fits the target."""
    target = trace.target
    traced: dict[int, int] = {}
    first = (
        main if main is not None and main.precision == precision else trace.training(batch_size, precision)
    )
    traced[first.batch_size] = first.peak_bytes
    other_batch = first.batch_size * 2
    second = trace.training(other_batch, precision)
    traced[other_batch] = second.peak_bytes
    lines = _Lines(first, second)

    if not target.capacity_known:  # a GPU that was not chosen: the curve only, no verdict
        grid = sorted({1 << i for i in range(0, max(2 * batch_size, 2).bit_length() + 1)} | set(traced))
        grid = [b for b in grid if b <= max(2 * batch_size, *traced)]
        return BatchSweep(precision=precision, batch_sizes=grid, peak_bytes=[traced.get(b, lines(b)) for b in grid],
                          traced=[b in traced for b in grid], capacity_bytes=None, largest_fitting_batch=None,
                          largest_fitting_peak_bytes=None)
    capacity = step_capacity(target)
    best = lines.largest_below(capacity)
    # Confirm the answer by tracing it (the lines are exact only where the same moment holds the peak).
    for _ in range(2):
        if best < 1:
            break
        peak = traced.get(best) or trace.training(best, precision).peak_bytes
        traced[best] = peak
        if fits(target, peak):
            break
        best = max(0, int(best * capacity / peak))
    best_ok = best >= 1 and fits(target, traced.get(best, lines(best)))

    top = max(2 * batch_size, best if best_ok else 0, 2)
    grid = sorted({1 << i for i in range(0, top.bit_length() + 1)} | set(traced))
    grid = [b for b in grid if b <= max(top, *traced)]
    peaks = [traced.get(b, lines(b)) for b in grid]
    return BatchSweep(
        precision=precision,
        batch_sizes=grid,
        peak_bytes=peaks,
        traced=[b in traced for b in grid],
        capacity_bytes=capacity,
        largest_fitting_batch=best if best_ok else None,
        largest_fitting_peak_bytes=traced.get(best) if best_ok else None,
    )
