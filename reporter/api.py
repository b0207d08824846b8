"""Public Python API: build a report from a config, a checkpoint or a live `nn.Module`, and render it.

    from reporter.api import report_from_config, render_report, write_report
    report = report_from_config("configs/default.yaml", batch_size=256)
    html = render_report(report, "html")
    write_report(report, "reports/model.md")

Everything here is stable for experiment-log helpers (reporter.integrations.*) and user scripts;
internals (reporter.pipeline, reporter.analysis) may change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reporter.errors import InputError, ReportError
from reporter.options import ReportOptions
from reporter.report.model import Report

__all__ = ["InputError", "Report", "ReportError", "ReportOptions", "render_report", "report_from_checkpoint",
           "report_from_config", "report_from_module", "write_report"]


def _options(options: ReportOptions | None, kwargs: dict[str, Any]) -> ReportOptions:
    if options is not None and kwargs:
        raise TypeError("give either options= or keyword options, not both")
    return options or ReportOptions(**kwargs)


def report_from_config(path: str | Path, options: ReportOptions | None = None, **kwargs: Any) -> Report:
    """Report on a GENESIS YAML config (keyword options: batch_size, verbose, model_class, ...)."""
    from reporter.pipeline import config_report

    return config_report(str(path), _options(options, kwargs))


def report_from_checkpoint(path: str | Path, config: str | Path | None = None, options: ReportOptions | None = None,
                           **kwargs: Any) -> Report:
    """Report on a training checkpoint (never executes code from it); optional config YAML."""
    from reporter.pipeline import checkpoint_report

    return checkpoint_report(str(path), _options(options, kwargs), config_path=str(config) if config else None)


def report_from_module(module: Any, *, title: str | None = None, architecture: str | None = None,
                       verbose: bool = False, batch_size: int | None = None) -> Report:
    """Report on a live `torch.nn.Module` (e.g. the model being trained): exact parameter counts and
    attribution. Sections that need a GENESIS config (config, normalization, data flow) are absent."""
    from reporter.pipeline import module_report

    return module_report(module, title=title, architecture=architecture, verbose=verbose, batch_size=batch_size)


def render_report(report: Report, fmt: str = "html", *, embed_images: bool = True, verbose: bool = False) -> str:
    """One self-contained document: 'html', 'md' (charts inlined), 'json' or 'terminal'."""
    from reporter.render import FORMATS, render_document

    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return render_document("report", report, fmt, embed_images=embed_images, verbose=verbose).text


def write_report(report: Report, path: str | Path, fmt: str | None = None, *, embed_images: bool = False,
                 verbose: bool = False) -> Path:
    """Write atomically (format from the suffix unless given); Markdown charts go to `<stem>_files/`."""
    from reporter.output import check_outputs, write_documents
    from reporter.render import format_for_path

    target = Path(path)
    check_outputs([target], [item.path for item in report.meta.inputs])
    write_documents("report", report, [(target, format_for_path(target, fmt))], embed_images=embed_images,
                    verbose=verbose)
    return target
