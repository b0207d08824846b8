"""Put a report into TensorBoard's Text tab (Markdown) and its headline numbers into Scalars.

Works with any writer that has `add_text`/`add_scalar` (`torch.utils.tensorboard.SummaryWriter`,
tensorboardX); genesis-report imports nothing from TensorBoard itself.

    from torch.utils.tensorboard import SummaryWriter
    from reporter.integrations.tensorboard import log_report

    writer = SummaryWriter("logs/run1")
    log_report(writer, report)
    writer.flush()
"""

from __future__ import annotations

from typing import Any

from reporter.integrations import headline_numbers, markdown_text
from reporter.report.model import Report


def log_report(writer: Any, report: Report, *, tag: str = "genesis-report", step: int = 0,
               scalars: bool = True) -> None:
    if not hasattr(writer, "add_text"):
        raise TypeError(f"expected a TensorBoard SummaryWriter, got {type(writer).__name__}")
    writer.add_text(tag, markdown_text(report), global_step=step)
    if scalars:
        for name, value in headline_numbers(report).items():
            writer.add_scalar(f"{tag}/{name}", value, global_step=step)
