"""One report per task folder: the model report on the best checkpoint, plus the task's checkpoints
and loss history; written to `<task>/reports/report.{html,md,json}` by default."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from reporter.errors import InputError, ReportError
from reporter.limits import LOG_BYTES
from reporter.options import ReportOptions
from reporter.report.base import Chart, Finding, Series, Severity
from reporter.report.model import Report
from reporter.report.task import LossEpoch
from reporter.report_facts import checkpoint_facts
from reporter.tasks.fingerprint import task_fingerprint
from reporter.tasks.folder import TaskFolder, scan_task
from reporter.tasks.log import LossHistory, parse_training_log, read_log_text
from reporter.tasks.model import CheckpointEntry, TaskReport, TaskSection

DEFAULT_FORMATS = ("html", "md", "json")


def task_report(path: str | Path, options: ReportOptions) -> TaskReport:
    """Report on the task's best checkpoint; when it cannot be read (a trainer rewriting it while CI reads),
    on the newest readable checkpoint; when none can, on its config.yaml. Unreadable files are named."""
    folder = scan_task(path)
    fingerprint = task_fingerprint(folder, options.as_meta())
    config = _usable_config(folder)
    notes: list[str] = []
    if folder.config is not None and config is None:
        notes.append(f"{_rel(folder.config, folder.root)} cannot be read; the checkpoint's embedded config is used")
    from reporter.pipeline import checkpoint_report, config_report, ranked

    problems: dict[str, str] = {}
    report: Report | None = None
    reported_from = ""
    for candidate in folder.report_candidates():
        try:
            report = checkpoint_report(str(candidate.path), options, config_path=config)
        except ReportError as exc:
            if exc.exit_status != 2:
                raise
            problems[str(candidate.path)] = exc.problem
            continue
        reported_from = str(candidate.path)
        break
    if report is None:
        if config is None:
            why = "; ".join(f"{Path(p).name}: {problem}" for p, problem in problems.items())
            raise InputError("no readable checkpoint and no usable config.yaml" + (f" ({why})" if why else ""),
                             folder.root)
        report = config_report(config, options)
        reported_from = config
    for broken, problem in problems.items():
        report.findings.insert(0, Finding(
            severity=Severity.error, code="task.checkpoint-unreadable", where=_rel(Path(broken), folder.root),
            message=f"{_rel(Path(broken), folder.root)} cannot be read ({problem}); this report describes "
                    f"{_rel(Path(reported_from), folder.root)} instead"))
    entries = _checkpoint_entries(folder, report, reported_from, problems, notes)
    report.findings = ranked(report.findings)  # the listed checkpoints' security findings join the ranking
    history, log_path = _history(folder, notes)
    section = TaskSection(
        name=folder.name,
        path=str(folder.root),
        config=_rel(folder.config, folder.root) if folder.config else None,
        checkpoints=entries,
        reported_from=_rel(Path(reported_from), folder.root),
        unreadable=[_rel(Path(p), folder.root) for p in problems],
        fingerprint=fingerprint,
        training_log=_rel(log_path, folder.root) if log_path else None,
        loss_epochs=history.epochs,
        train_loss=history.train_loss,
        val_loss=history.val_loss,
        loss_table=[LossEpoch(epoch=e, train_loss=t, val_loss=v)
                    for e, t, v in zip(history.epochs, history.train_loss, history.val_loss, strict=True)],
        charts=_loss_charts(history),
        notes=notes,
    )
    return TaskReport(task=section, report=report)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _usable_config(folder: TaskFolder) -> str | None:
    """config.yaml when it can be read; a broken one must not hide the checkpoints (its error is raised by the
    config report when nothing else can be reported)."""
    if folder.config is None:
        return None
    from reporter.config.loader import load_config

    try:
        load_config(folder.config)
    except InputError:
        return None if folder.checkpoints else str(folder.config)
    return str(folder.config)


def _checkpoint_entries(folder: TaskFolder, report: Any, reported_from: str | None, problems: dict[str, str],
                        notes: list[str]) -> list[CheckpointEntry]:
    """Every checkpoint with epoch, best loss and size; the training state is read where the build can."""
    entries = []
    for ckpt in folder.checkpoints:
        is_reported = reported_from == str(ckpt.path)
        facts: dict[str, Any] = {}
        problem = problems.get(str(ckpt.path))
        if is_reported:
            facts = checkpoint_facts(report)
        elif problem is not None:
            security: list[Finding] = []
        else:
            try:
                facts, security = _light_checkpoint_facts(ckpt.path)
            except ReportError as exc:
                problem = exc.problem
                facts, security = {}, []
            report.findings.extend(
                Finding(severity=f.severity, code=f.code, message=f.message, where=f"{ckpt.path.name}: {f.where}")
                for f in security)
        epoch = facts.get("epoch", ckpt.epoch)
        loss = facts.get("best_loss")
        entries.append(CheckpointEntry(file=_rel(ckpt.path, folder.root), kind=ckpt.kind, epoch=epoch,
                                       best_loss=float(loss) if loss is not None else None,
                                       global_step=facts.get("global_step"), size_bytes=ckpt.size_bytes,
                                       reported=is_reported, problem=problem))
    return entries


def _light_checkpoint_facts(path: Path) -> tuple[dict[str, Any], list[Finding]]:
    """Epoch, step and best loss of a checkpoint that is listed but not reported on: metadata only
    (no hash, no weight statistics), plus its security findings so an unsafe file is never hidden."""
    from reporter.checkpoint import read_checkpoint
    from reporter.checkpoint.sections import security_findings, training_state

    ckpt = read_checkpoint(path, sha256=False)
    state = training_state(ckpt)
    facts: dict[str, Any] = {}
    if state is not None:
        facts = {k: v for k, v in {"epoch": state.epoch_stored, "global_step": state.global_step,
                                   "best_loss": state.best_loss}.items() if v is not None}
    return facts, security_findings(ckpt)


def _history(folder: TaskFolder, notes: list[str]) -> tuple[LossHistory, Path | None]:
    """The first training log that has epoch summaries (a task normally has exactly one)."""
    for log in folder.training_logs:
        try:
            text, cut = read_log_text(log)
        except ReportError as exc:
            notes.append(f"{log.name}: {exc.problem}.")
            continue
        if cut:
            notes.append(f"{log.name}: only the first {LOG_BYTES:,} bytes were read (bound).")
        history = parse_training_log(text)
        if history:
            if len(folder.training_logs) > 1:
                notes.append(f"Loss history from {log.name} ({len(folder.training_logs)} training logs found).")
            return history, log
    if folder.training_logs:
        notes.append("The training log has no epoch summaries, so there is no loss history to plot.")
        return LossHistory(), folder.training_logs[0]
    return LossHistory(), None


def _loss_charts(history: LossHistory) -> list[Chart]:
    if not history:
        return []
    series = [Series(name="train loss", values=[_plot(v) for v in history.train_loss])]
    if any(v is not None for v in history.val_loss):
        series.append(Series(name="val loss", values=[_plot(v) for v in history.val_loss]))
    finite = [v for s in series for v in s.values if math.isfinite(v) and v > 0]
    span = max(finite) / min(finite) if finite else 1.0
    return [Chart(id="task-loss-history", title="Loss by epoch (training log)", kind="line",
                  x=[float(e) for e in history.epochs], series=series, x_label="epoch", y_label="loss",
                  log_y=span > 100)]


def _plot(value: float | None) -> float:
    return math.nan if value is None else float(value)


def default_outputs(task: TaskReport | TaskFolder | str | Path) -> list[Path]:
    if isinstance(task, TaskReport):
        root = Path(task.task.path)
    elif isinstance(task, TaskFolder):
        root = task.root
    else:
        root = Path(task)
    return [root / "reports" / f"report.{fmt}" for fmt in DEFAULT_FORMATS]
