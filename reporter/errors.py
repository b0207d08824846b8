"""Exceptions that the CLI turns into exit statuses and one-line messages.

Every error raised for bad input must name the file and the problem, so a user reading a CI log
knows what to fix without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class ReportError(Exception):
    """Base class: an error the CLI reports as one line with a given exit status."""

    exit_status = 2

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.problem = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class InputError(ReportError):
    """Unreadable, missing, malformed or invalid input (exit status 2)."""

    exit_status = 2


def no_such_file(path: str | Path, what: str = "file") -> InputError:
    """The one wording for a path that does not exist: ``<path>: no such file`` (or folder)."""
    return InputError(f"no such {what}", path)


class NoExampleInputs(InputError):
    """A --model-class model without ``example_inputs``: its traced sections are skipped, not refused."""


class UnknownArchitectureError(InputError):
    """A config names an architecture the registry does not know."""
