"""ReportOptions for the compare and index commands, from the flags this build supports."""

from __future__ import annotations

import dataclasses
from typing import Any

from reporter.errors import InputError


def make_options(**values: Any) -> Any:
    """ReportOptions with the given values; a value for a field this build lacks is a bad-input error."""
    from reporter.options import ReportOptions

    names = {f.name for f in dataclasses.fields(ReportOptions)}
    given = {k: v for k, v in values.items() if v is not None}
    unknown = sorted(set(given) - names)
    if unknown:
        raise InputError(f"--{unknown[0].replace('_', '-')} is not available in this build")
    return ReportOptions(**given)
