"""Experiment-log helpers (MLflow, Weights & Biases, TensorBoard): optional extras, imported lazily.

Install with `pip install genesis-report[mlflow]` (or `[wandb]`, `[tensorboard]`); genesis-report itself
never needs these libraries.
"""

from __future__ import annotations

import re
from typing import Any

from reporter.report.model import Report


def headline_numbers(report: Report) -> dict[str, float]:
    """Numbers worth logging as params/metrics/summary values (exact counts, bytes)."""
    from reporter.report_facts import key_facts

    facts = key_facts(report)
    numbers: dict[str, Any] = {
        "total_parameters": facts["total_parameters"],
        "trainable_parameters": facts["trainable_parameters"],
        "size_fp32_bytes": facts["size_fp32_bytes"],
    }
    if facts["peak_memory_bytes"] is not None:
        numbers["peak_memory_bytes"] = facts["peak_memory_bytes"]
    return numbers


def markdown_text(report: Report) -> str:
    """The Markdown report without chart images: text panels (TensorBoard, MLflow notes) show no SVG."""
    from reporter.render import render_document

    text = render_document("report", report, "md", embed_images=False).text
    return re.sub(r"(?m)^!\[[^\]]*\]\([^)]*\)\n?", "", text)


def missing(library: str, extra: str) -> ImportError:
    return ImportError(f"{library} is not installed: pip install 'genesis-report[{extra}]'")


def compact_markdown(report: Report) -> str:
    """A few lines (headline numbers and findings) for places with a size limit, e.g. MLflow tags."""
    from reporter.gates import summary_markdown

    return summary_markdown(report, [], [])
