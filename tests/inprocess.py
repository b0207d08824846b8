"""Run the CLI inside the test process (torch is imported once, so each call costs only its own work).

Use helpers.run_cli where a fresh process matters (imports, console script, parallel workers)."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass

from helpers import REPO

from reporter.cli import main


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(before)
    return Result(code, out.getvalue(), err.getvalue())
