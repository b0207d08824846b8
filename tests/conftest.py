"""Shared pytest fixtures and options.

Reports that cost a traced training step (the memory section: five fake steps) are built once per test
run here and shared; a test that asserts nothing about memory builds its own report with
`--no-memory` / `ReportOptions(memory=False)` instead, which costs a fraction of a second.
Shared reports are read-only: render them, never modify them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread per xdist worker (and its child processes): with a worker per core, torch's own
    # thread pool only competes with the other workers; measured on 2 cores, the real-tensor tests took
    # twice the CPU time and twice as long with two threads per worker. Set before torch is imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


# Reports must not depend on the developer's machine: no cached sections (a report made from the cache says
# so, which would change golden and reproducibility outputs by test order), no default GPU from the user's
# settings, and nothing written to ~/.cache. Tests of the caches and targets set these themselves.
os.environ["GENESIS_REPORT_NO_CACHE"] = "1"
# Traced sections run on a thread of the test process instead of a forked child: fake-tensor dispatch
# caches then stay warm from one report to the next (a child starts from the parent's cold caches every
# time: 2.3 s against 1.0 s for a one-block model). The forked path has its own tests
# (test_cold_path.py in a clean environment; test_memory_report.py unsets this).
os.environ["GENESIS_REPORT_NO_FORK"] = "1"
os.environ.pop("GENESIS_REPORT_TARGET", None)
os.environ.pop("GENESIS_REPORT_GPU_MEMORY", None)
os.environ["XDG_CONFIG_HOME"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "genesis-report-tests-no-settings")


class _TracedMemoryMemo:
    """Memory sections traced in this test process, by their analysis-cache key (reporter.pipeline._memory_key:
    every input of the trace, the tool's code included). Six tests report on configs/default.yaml with the
    same options through the CLI, three more share another config: each traced step costs 1-3 s, and a
    trace is deterministic, so the second test gets a copy of the first one's section. The pipeline does
    not know (unlike the analysis cache, whose hits a report lists), so reports read the same either way.
    Tests of the tracing itself opt out with the ``fresh_traces`` marker."""

    def __init__(self) -> None:
        self.sections: dict[str, tuple[Any, list[Any]]] = {}
        self.on = True

    def install(self) -> None:
        from reporter import pipeline

        traced = pipeline._memory

        def memory(built, config, options, batch_size, target, parallel=True):
            key = pipeline._memory_key(built, config, options, batch_size, target) if self.on else None
            if key is None:
                return traced(built, config, options, batch_size, target, parallel)
            if key not in self.sections:
                self.sections[key] = traced(built, config, options, batch_size, target, parallel)
            section, findings = self.sections[key]
            return (None if section is None else section.model_copy(deep=True)), [f.model_copy() for f in findings]

        pipeline._memory = memory


TRACED_MEMORY = _TracedMemoryMemo()


# Tests that take longest (measured: mypy's first run ~9 s, end-to-end subprocess runs, traced reports of
# every shipped config) start first, so the parallel workers (pytest-xdist) end together instead of one
# waiting for the other's last long test. Order is otherwise unchanged; no test depends on it.
_LONG_FIRST = ("tests/test_static_checks.py::test_mypy", "tests/test_all_configs.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def long_first(item: pytest.Item) -> int:
        if item.nodeid.startswith(_LONG_FIRST):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=long_first)


@pytest.fixture(scope="session", autouse=True)
def _memory_memo_installed():
    """In the processes that run tests only (not pytest-xdist's controller: the install imports torch)."""
    TRACED_MEMORY.install()


@pytest.fixture(autouse=True)
def _memory_memo_switch(request: pytest.FixtureRequest, _memory_memo_installed):
    TRACED_MEMORY.on = request.node.get_closest_marker("fresh_traces") is None
    yield
    TRACED_MEMORY.on = True


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/ from the current code instead of comparing (see tests/test_golden.py)")


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def default_full_report():
    """configs/default.yaml with every section, memory included (its device is auto: a CUDA GPU of unknown
    size; batch size 512)."""
    from reporter.pipeline import ReportOptions, config_report

    return config_report(str(REPO / "configs" / "default.yaml"), ReportOptions())
