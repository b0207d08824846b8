"""Run traced work in forked children while the caller does other work.

The traced sections (data flow, memory) are the slowest part of a report and depend on nothing else the
report computes, so they start in a child as soon as the model is known (reporter.pipeline.start_traces);
inside it, the flow and the memory section's fp32 and mixed-precision steps are independent and fork once
more. A forked child already has torch imported and the model config at hand, so it costs no start-up; it
sends its result back through a pipe, pickled (our own child's data, never a file's). Fake tensors run no
kernels, and a child uses one intra-op thread, so forking after torch's import is safe (as DataLoader
workers are). Whoever forks decides what the children share: import ``torch._dynamo`` (which fake tensors
need) before forking several tracing children, so that they do not each import it.

Where fork is unavailable, or `GENESIS_REPORT_NO_FORK=1`, the work runs in the calling process when its
result is asked for: the same result either way (tests compare the two).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class WorkerError(RuntimeError):
    """The work failed in the child (the message is the child's exception)."""


MemoryWorkerError = WorkerError  # the name the memory section's callers know


class Forked(Generic[T]):
    """``compute()`` running in a forked child when possible; ``result()`` waits for it."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._pid: int | None = None
        self._read: int | None = None
        if hasattr(os, "fork") and not os.environ.get("GENESIS_REPORT_NO_FORK"):
            self._start()

    def _start(self) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
            os.close(read)
            status = 0
            try:
                import torch

                torch.set_num_threads(1)  # fake tensors run no kernels; a forked thread pool must not spin
                payload = pickle.dumps(("ok", self._compute()))
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent as data
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
                status = 1
            try:
                with os.fdopen(write, "wb") as out:
                    out.write(payload)
            finally:
                os._exit(status)
        os.close(write)
        self._pid, self._read = pid, read

    def __del__(self) -> None:
        """A job nobody waited for (the report failed first): stop its child and reap it."""
        if self._pid is not None:
            import signal

            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            except OSError:
                pass
            if self._read is not None:
                os.close(self._read)
            self._pid = None

    def result(self) -> T:
        """The child's result; a child that failed raises its error, as the inline work would."""
        if self._pid is None:
            return self._compute()
        assert self._read is not None
        with os.fdopen(self._read, "rb") as incoming:
            payload = incoming.read()
        os.waitpid(self._pid, 0)
        self._pid = None
        if not payload:
            raise WorkerError("the worker process died")
        kind, value = pickle.loads(payload)
        if kind == "error":
            raise WorkerError(value)
        return value


MemoryJob = Forked  # the memory section as a whole, started by the pipeline
