"""Run the CLI inside the test process (torch is imported once, so each call costs only its own work).

Use helpers.run_cli where a fresh process matters (imports, console script, parallel workers)."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from helpers import REPO

from reporter.cli import main


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """`genesis-report ARGS` in this process, run in `cwd` (default: the repository root) with `env` added
    to the environment; the working directory and the whole environment are restored afterwards (the CLI
    itself sets none: tests/test_digest_cache.py checks that)."""
    out, err = io.StringIO(), io.StringIO()
    before, saved_env = os.getcwd(), dict(os.environ)
    os.chdir(cwd or REPO)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(before)
        os.environ.clear()
        os.environ.update(saved_env)
    return Result(code, out.getvalue(), err.getvalue())
