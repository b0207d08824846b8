"""An index over many task folders: one row per task, each task's own report written in place.

Tasks run in parallel worker processes (`jobs`); a task that fails becomes a row with its error, so
one broken task never fails the index.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from reporter.errors import InputError, ReportError
from reporter.options import ReportOptions
from reporter.render.escape import visible
from reporter.report_facts import key_facts, report_status
from reporter.tasks.folder import find_tasks
from reporter.tasks.model import IndexRow, TaskIndex

Progress = Callable[[int, int, IndexRow], None]


def index_one(task_dir: str, options: ReportOptions, index_dir: str | None, write_reports: bool = True) -> IndexRow:
    """Report on one task (writing its reports/ when asked) and summarise it as an index row."""
    from reporter.output import write_documents
    from reporter.tasks.report import default_outputs, task_report

    name = Path(task_dir).name
    try:
        task = task_report(task_dir, options)
        link = None
        if write_reports:
            outputs = default_outputs(task)
            outputs[0].parent.mkdir(exist_ok=True)
            write_documents("report", task.combined(), [(p, p.suffix.lstrip(".")) for p in outputs])
            link = outputs[0]
        return _row(task_dir, task.report, task.task, link, index_dir)
    except ReportError as exc:
        return IndexRow(name=name, path=task_dir, report_link=None, error=str(exc.problem), status="failed",
                        status_detail=str(exc.problem))
    except Exception as exc:  # one broken task is a row with its error, never a failed index
        return IndexRow(name=name, path=task_dir, report_link=None, error=f"{type(exc).__name__}: {exc}",
                        status="failed", status_detail=f"{type(exc).__name__}: {exc}")


def reused_row(task_dir: str, options: ReportOptions, index_dir: str | None) -> IndexRow | None:
    """The row of a task whose written report is still valid (same fingerprint), read from its JSON; None
    when the task must be reported again. Reads config.yaml and stats files only: no torch import."""
    from reporter.report_file import load_report_json
    from reporter.tasks.fingerprint import task_fingerprint
    from reporter.tasks.folder import scan_task
    from reporter.tasks.report import default_outputs

    try:
        folder = scan_task(task_dir)
        outputs = default_outputs(folder)
        if not all(p.is_file() for p in outputs):
            return None
        report = load_report_json(next(p for p in outputs if p.suffix == ".json"))
    except (ReportError, OSError):
        return None
    if report.task is None or report.task.fingerprint != task_fingerprint(folder, options.as_meta()):
        return None
    return _row(task_dir, report, report.task, outputs[0], index_dir, reused=True)


def _row(task_dir: str, report: Any, task: Any, link: Path | None, index_dir: str | None,
         reused: bool = False) -> IndexRow:
    """One index row from a task's report and task section (fresh or read back from its JSON)."""
    link_base = Path(index_dir) if index_dir else Path(task_dir).parent
    facts = key_facts(report)
    losses = [c.best_loss for c in task.checkpoints if c.reported and c.best_loss is not None]
    return IndexRow(name=Path(task_dir).name, path=task_dir,
                    report_link=os.path.relpath(link, link_base) if link is not None else None,
                    architecture=facts["architecture"], model_class=facts["model_class"],
                    parameters=facts["total_parameters"],
                    best_loss=facts["best_loss"] if facts["best_loss"] is not None else (losses[0] if losses else None),
                    epochs=_epochs(facts, task), peak_memory_bytes=_int(facts["peak_memory_bytes"]),
                    batch_size=facts["batch_size"], findings=len(report.findings),
                    findings_by_severity=facts["findings"], security_findings=facts["findings"]["security"],
                    unreadable=list(task.unreadable), reused=reused, **report_status(report, facts))


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _epochs(facts: dict[str, Any], task: Any) -> int | None:
    """Epochs completed: the checkpoint's own count, else the training log, else checkpoint file names."""
    state = facts["checkpoint"]
    if state.get("epochs_completed") is not None:
        return int(state["epochs_completed"])
    if task.loss_epochs:
        return max(task.loss_epochs)
    numbered = [c.epoch for c in task.checkpoints if c.epoch is not None]
    if state.get("epoch") is not None:
        numbered.append(int(state["epoch"]))
    return max(numbered) + 1 if numbered else None


def build_index(root: str | Path, options: ReportOptions, *, jobs: int = 1, index_dir: str | Path | None = None,
                progress: Progress | None = None, write_reports: bool = True, reuse: bool = True) -> TaskIndex:
    """One row per task; a task whose written report is still valid (reporter.tasks.fingerprint) is reused
    unless ``reuse`` is off, the others are reported (in ``jobs`` worker processes) and written."""
    from reporter.analysis.meta import build_meta

    tasks = [str(p) for p in find_tasks(root)]
    if not tasks:
        raise InputError("no GENESIS task folders here (sub-folders with config.yaml or checkpoints/*.pt)", root)
    rows: dict[str, IndexRow] = {}
    idx_dir = str(index_dir) if index_dir is not None else str(Path(root))
    done = 0
    if write_reports and reuse:  # unchanged tasks first, in this process, without torch
        for task in tasks:
            row = reused_row(task, options, idx_dir)
            if row is not None:
                rows[task] = row
                done += 1
                if progress:
                    progress(done, len(tasks), row)
    todo = [task for task in tasks if task not in rows]
    if jobs <= 1 or len(todo) <= 1:
        for task in todo:
            rows[task] = index_one(task, options, idx_dir, write_reports)
            done += 1
            if progress:
                progress(done, len(tasks), rows[task])
    else:
        # spawn, not fork: forking a process that already runs torch's thread pools can deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context) as pool:
            futures = {pool.submit(index_one, task, options, idx_dir, write_reports): task for task in todo}
            for i, future in enumerate(as_completed(futures), done + 1):
                task = futures[future]
                try:
                    rows[task] = future.result()
                except Exception as exc:  # a worker that died (e.g. out of memory)
                    rows[task] = IndexRow(name=Path(task).name, path=task, report_link=None,
                                          error=f"worker failed: {type(exc).__name__}: {exc}", status="failed",
                                          status_detail=f"worker failed: {type(exc).__name__}")
                if progress:
                    progress(i, len(tasks), rows[task])
    return TaskIndex(meta=build_meta([], options.as_meta()),
                     root=str(root), rows=[rows[t] for t in tasks],
                     reused_rows=sum(1 for row in rows.values() if row.reused),
                     failed_rows=sum(1 for row in rows.values() if row.error))


def print_progress(done: int, total: int, row: IndexRow) -> None:
    """One line per finished task on stderr (a live counter on a terminal)."""
    if row.error:
        status = f"error: {row.error}"
    elif row.parameters is not None:
        status = f"{row.parameters:,} parameters"
    else:  # a checkpoint whose model could not be built has no parameter count
        status = "reported (no model built)"
    line = visible(f"[{done}/{total}] {row.name}: {status}")
    if sys.stderr.isatty():
        print(f"\r\033[K{line}", end="\n" if done == total or row.error else "", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)
