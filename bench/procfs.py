"""Process memory as Linux reports it, for the CPU memory benchmarks (memory_accuracy, memory_op_probe)."""

from __future__ import annotations

from pathlib import Path


def status_bytes(field: str) -> int:
    """A /proc/self/status figure in bytes, e.g. ``VmRSS`` or ``VmHWM`` (the peak since the last reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> None:
    """Start VmHWM again from the current RSS (clear_refs value 5)."""
    Path("/proc/self/clear_refs").write_text("5")
