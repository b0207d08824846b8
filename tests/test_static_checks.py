"""The static checks CI runs beside the tests: `mypy reporter` (configured in pyproject's [tool.mypy]) and
`ruff check .`. Both come with the `test` extra, pinned in constraints.txt; a type error or a lint finding
fails the suite. mypy keeps its incremental cache in .mypy_cache (ignored by git): a repeated run takes
a second or two, a first one about 9 s (pyproject says which imports it does not follow, and why).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from helpers import REPO


def _check(module: str, *args: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: the test extra brings it "
                    "(pip install -c constraints.txt -e '.[test]')")
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{module} {' '.join(args)} failed:\n{result.stdout}{result.stderr}"


def test_mypy_finds_no_type_errors():
    _check("mypy", "reporter")


def test_ruff_finds_nothing():
    _check("ruff", "check", ".")
