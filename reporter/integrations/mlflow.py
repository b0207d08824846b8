"""Attach a report to an MLflow run: the HTML/Markdown/JSON files as artifacts, a compact Markdown summary as
the run description (the `mlflow.note.content` tag MLflow's UI shows), and headline numbers as params.

    import mlflow
    from reporter.api import report_from_config
    from reporter.integrations.mlflow import log_report

    with mlflow.start_run():
        log_report(report_from_config("config.yaml"))
"""

from __future__ import annotations

from reporter.integrations import compact_markdown, headline_numbers, missing
from reporter.report.model import Report

NOTE_TAG = "mlflow.note.content"
MAX_TAG_CHARS = 8000  # MLflow's limit for tag values (tracking servers reject longer ones)


def log_report(report: Report, *, artifact_dir: str = "genesis-report", formats: tuple[str, ...] = ("html", "md",
               "json"), set_description: bool = True, log_params: bool = True) -> list[str]:
    """Log to the active run (start one with `mlflow.start_run()`); returns the artifact paths."""
    try:
        import mlflow
    except ImportError:
        raise missing("mlflow", "mlflow") from None
    from reporter.render import render_document

    if mlflow.active_run() is None:
        raise RuntimeError("no active MLflow run: call mlflow.start_run() first")
    written = []
    for fmt in formats:
        rendered = render_document("report", report, fmt, stem="report", embed_images=True)
        path = f"{artifact_dir}/report.{fmt}"
        mlflow.log_text(rendered.text, path)
        written.append(path)
    if set_description:
        note = compact_markdown(report) + f"Full report: artifacts `{artifact_dir}/report.html`, `.md`, `.json`.\n"
        mlflow.set_tag(NOTE_TAG, note[:MAX_TAG_CHARS])
    if log_params:
        mlflow.log_params({f"genesis_report.{k}": v for k, v in headline_numbers(report).items()})
    return written
