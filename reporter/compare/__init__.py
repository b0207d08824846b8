"""Compare several models side by side (configs, checkpoints or archived JSON reports)."""

from reporter.compare.build import compare_reports, load_for_compare

__all__ = ["compare_reports", "load_for_compare"]
