"""Run the memory section's traced steps in a forked child while the parent traces the flow and draws.

The memory section is the slowest part of a report (four or five fake training steps) and depends on
nothing the rest of the report computes, so it starts as soon as the model's values are known. A child
forked from the report process already has torch imported and the model config at hand, so it costs no
start-up; it sends the section back as JSON through a pipe. Fake tensors run no kernels, and the child
uses one intra-op thread, so forking after torch's import is safe (as DataLoader workers are).

Where fork is unavailable, or `GENESIS_REPORT_NO_FORK=1`, the work runs in the calling process when its
result is asked for: the same section either way (tests compare the two).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from reporter.report.base import Finding
from reporter.report.memory import MemorySection

Compute = Callable[[], tuple[MemorySection | None, list[Finding]]]


class MemoryJob:
    """A memory section being computed (in a child process when possible); ``result()`` waits for it."""

    def __init__(self, compute: Compute) -> None:
        self._compute = compute
        self._pid: int | None = None
        self._read: int | None = None
        if hasattr(os, "fork") and not os.environ.get("GENESIS_REPORT_NO_FORK"):
            self._start()

    def _start(self) -> None:
        import torch._dynamo  # noqa: F401 - fake tensors need it in both processes: import it once, before fork

        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
            os.close(read)
            status = 0
            try:
                import torch

                torch.set_num_threads(1)  # fake tensors run no kernels; a forked thread pool must not spin
                payload = _encode(self._compute())
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent as data
                payload = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
                status = 1
            try:
                with os.fdopen(write, "w", encoding="utf-8") as out:
                    out.write(payload)
            finally:
                os._exit(status)
        os.close(write)
        self._pid, self._read = pid, read

    def result(self) -> tuple[MemorySection | None, list[Finding]]:
        """The section and its findings; a child that failed gives its error, as the inline work would."""
        if self._pid is None:
            return self._compute()
        assert self._read is not None
        with os.fdopen(self._read, "r", encoding="utf-8") as incoming:
            payload = incoming.read()
        os.waitpid(self._pid, 0)
        self._pid = None
        data: dict[str, Any] = json.loads(payload) if payload else {"error": "the memory worker died"}
        if "error" in data:
            raise MemoryWorkerError(data["error"])
        section = MemorySection.model_validate(data["section"]) if data["section"] is not None else None
        return section, [Finding.model_validate(f) for f in data["findings"]]


class MemoryWorkerError(RuntimeError):
    """The traced steps failed in the child (the message is the child's exception)."""


def _encode(result: tuple[MemorySection | None, list[Finding]]) -> str:
    section, findings = result
    return json.dumps({"section": json.loads(section.model_dump_json()) if section is not None else None,
                       "findings": [json.loads(f.model_dump_json()) for f in findings]})
