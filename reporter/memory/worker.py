"""Run traced work in forked children while the caller does other work.

The traced sections (data flow, memory) are the slowest part of a report and depend on nothing else the
report computes, so they start in a child as soon as the model is known (reporter.pipeline.start_traces);
inside it, the flow and the memory section's fp32 and mixed-precision steps are independent and fork once
more. A forked child already has torch imported and the model config at hand, so it costs no start-up; it
sends its result back through a pipe, pickled (our own child's data, never a file's). Fake tensors run no
kernels, and a child uses one intra-op thread, so forking after torch's import is safe (as DataLoader
workers are). Whoever forks decides what the children share: import ``torch._dynamo`` (which fake tensors
need) before forking several tracing children, so that they do not each import it.

A caller without a spare core for a child (``fork=False``), a platform without fork, or
`GENESIS_REPORT_NO_FORK=1` runs the work in the calling process: on a thread started at once
(``thread=True``; tracing holds the GIL, while torch kernels and hashlib release it), else when its result
is asked for. The result is the same every way (tests compare them).
"""

from __future__ import annotations

import gc
import os
import pickle
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class WorkerError(RuntimeError):
    """The work failed in the child (the message is the child's exception)."""


MemoryWorkerError = WorkerError  # the name the memory section's callers know


_children_alive = 0


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, as a container or taskset limits it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether work may run in a forked child here (a platform with fork, and not GENESIS_REPORT_NO_FORK)."""
    return hasattr(os, "fork") and not os.environ.get("GENESIS_REPORT_NO_FORK")


def _freeze_heap() -> None:
    """Keep the garbage collector off the objects the child shares with us, while it runs.

    After fork, parent and child share the heap's pages until one of them writes to a page. A collection
    writes to the header of every object it traverses, so a collection in either process copies the pages
    it walks (measured with a child and two grandchildren tracing beside a 1.6 GB checkpoint report:
    process-tree Pss_Anon 324 MiB without the freeze, 235 MiB with it).
    ``gc.freeze()`` moves every object that exists now out of the collector's reach in both processes.
    """
    global _children_alive
    _children_alive += 1
    gc.freeze()


def _thaw_heap() -> None:
    """The last child is reaped: the parent's objects are collectable again (an index runs many reports)."""
    global _children_alive
    _children_alive -= 1
    if _children_alive == 0:
        gc.unfreeze()


class Forked(Generic[T]):
    """``compute()`` running in a forked child when possible; ``result()`` waits for it."""

    def __init__(self, compute: Callable[[], T], fork: bool = True, thread: bool = False) -> None:
        """``fork=False`` computes in this process: on a thread started now with ``thread=True``, else
        when ``result()`` is asked for."""
        self._compute = compute
        self._pid: int | None = None
        self._read: int | None = None
        self._thread: threading.Thread | None = None
        self._outcome: tuple[bool, Any] | None = None
        if fork and can_fork():
            self._start()
        elif thread:
            self._thread = threading.Thread(target=self._run_here, daemon=True)
            self._thread.start()

    def _run_here(self) -> None:
        try:
            self._outcome = (True, self._compute())
        except BaseException as exc:  # noqa: BLE001 - result() raises it as a WorkerError, as a child's
            self._outcome = (False, exc)

    def _start(self) -> None:
        read, write = os.pipe()
        _freeze_heap()
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

    def _reaped(self) -> None:
        self._pid = None
        _thaw_heap()

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
            self._reaped()

    def result(self) -> T:
        """The result. A failure in a child or on the thread is a WorkerError naming the exception; work
        computed here on request raises its own exception."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._outcome is not None:
            done, value = self._outcome
            if not done:  # as a child's failure is, so that callers handle both one way
                raise WorkerError(f"{type(value).__name__}: {value}") from value
            return value
        if self._pid is None:
            return self._compute()
        assert self._read is not None
        with os.fdopen(self._read, "rb") as incoming:
            payload = incoming.read()
        os.waitpid(self._pid, 0)
        self._reaped()
        if not payload:
            raise WorkerError("the worker process died")
        kind, value = pickle.loads(payload)
        if kind == "error":
            raise WorkerError(value)
        return value


MemoryJob = Forked  # the memory section as a whole, started by the pipeline
