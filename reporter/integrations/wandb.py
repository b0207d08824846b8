"""Show a report in Weights & Biases: the standalone HTML report as a `wandb.Html` panel, and headline
numbers in the run summary.

    import wandb
    from reporter.integrations.wandb import log_report

    run = wandb.init(project="genesis")
    log_report(report, run=run)
"""

from __future__ import annotations

from typing import Any

from reporter.integrations import headline_numbers, missing
from reporter.report.model import Report


def log_report(report: Report, *, run: Any = None, key: str = "genesis_report", summary: bool = True) -> None:
    """Log to `run` (default: the current `wandb.run`)."""
    try:
        import wandb
    except ImportError:
        raise missing("wandb", "wandb") from None
    from reporter.render import render_document

    run = run or wandb.run
    if run is None:
        raise RuntimeError("no W&B run: call wandb.init() first or pass run=")
    html = render_document("report", report, "html").text
    run.log({key: wandb.Html(html, inject=False)})
    if summary:
        run.summary.update({f"{key}/{k}": v for k, v in headline_numbers(report).items()})
