"""Compare several models side by side (configs, checkpoints or archived JSON reports)."""

from reporter.compare.build import compare_reports, load_for_compare
from reporter.compare.facts import key_facts

__all__ = ["compare_reports", "key_facts", "load_for_compare"]
