"""Build a Comparison from configs, checkpoints, task folders or earlier JSON reports.

Configs and checkpoints are analysed with the same options (batch size, target), so their memory and
FLOPs figures are comparable; archived JSON reports are taken as they are (no torch work), and a
note says when they were made at another batch size or target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reporter.analysis.meta import describe_input
from reporter.compare.model import CompareColumn, CompareRow, CompareTable, Comparison, InputKind, RowUnit
from reporter.errors import InputError, no_such_file
from reporter.options import ReportOptions
from reporter.report.base import Chart, Series
from reporter.report.model import Report, ReportMeta, ToolInfo
from reporter.report_facts import WEIGHT_HEALTH_CODES, config_values, key_facts, report_status
from reporter.report_file import load_report_json

CONFIG_SUFFIXES = {".yaml", ".yml"}
CHECKPOINT_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".safetensors"}


def input_kind(path: str | Path) -> InputKind:
    """What an input is, judged by the path (an InputError for a missing file or an unknown suffix)."""
    p = Path(path)
    if p.is_dir():
        return "task"
    if not p.exists():
        raise no_such_file(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        return "report"
    if suffix in CONFIG_SUFFIXES:
        return "config"
    if suffix in CHECKPOINT_SUFFIXES:
        return "checkpoint"
    raise InputError(f"cannot tell what {suffix or 'a file without suffix'!r} is: give a .yaml config, "
                     "a checkpoint, a task folder or a .json report", path)


def load_for_compare(path: str | Path, options: ReportOptions | None) -> tuple[Report, InputKind]:
    """(report, kind) for any input genesis-report understands, judged by what the path is."""
    kind = input_kind(path)
    return _load(path, kind, options), kind


def _load(path: str | Path, kind: InputKind, options: ReportOptions | None) -> Report:
    if kind == "task":
        from reporter.tasks.report import task_report

        return task_report(Path(path), options or ReportOptions()).report
    if kind == "report":
        return load_report_json(Path(path))
    from reporter import pipeline  # imports torch: only for inputs that need analysing

    options = options or ReportOptions()
    if kind == "config":
        return pipeline.config_report(str(path), options)
    return pipeline.checkpoint_report(str(path), options)


def compare_reports(paths: list[str], options: ReportOptions | None) -> Comparison:
    """Load every input and compare them. Two inputs at least; a missing or unknown input is refused
    before any input is analysed (an analysis can take minutes)."""
    if len(paths) < 2:
        raise InputError("compare needs at least two inputs")
    kinds = [input_kind(p) for p in paths]
    options = _common_options(paths, options)
    reports = [_load(p, kind, options) for p, kind in zip(paths, kinds, strict=True)]
    inputs = [describe_input("report" if kind == "report" else "config" if kind == "config" else "checkpoint", p)
              for p, kind in zip(paths, kinds, strict=True) if Path(p).is_file()]
    return build_comparison(reports, kinds, paths, comparison_meta(inputs, _options_meta(options)))


def comparison_meta(inputs: list, options: dict[str, Any]) -> ReportMeta:
    """Like a report's meta, without importing torch (comparing archived JSON reports needs none)."""
    import platform
    from importlib import metadata

    from reporter import __version__
    from reporter.analysis.meta import generation_time

    try:
        torch_version = metadata.version("torch").split("+")[0]
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    generated_at, reproducible = generation_time()
    return ReportMeta(tool=ToolInfo(version=__version__, torch_version=torch_version,
                                    python_version=platform.python_version()),
                      generated_at=generated_at, reproducible=reproducible, inputs=inputs, options=options)


def _common_options(paths: list[str], options: ReportOptions | None) -> ReportOptions | None:
    """Fix one batch size for every input that is analysed now (not archived JSON reports).

    --batch-size wins; otherwise the first config's own batch size (as a single report would use it),
    so memory and FLOPs of all freshly analysed inputs are computed at the same batch size.
    """
    import dataclasses

    if options is None or options.batch_size:
        return options
    from reporter.config.loader import load_config
    from reporter.pipeline import resolve_batch_size

    for path in paths:
        if Path(path).suffix.lower() in CONFIG_SUFFIXES and Path(path).is_file():
            return dataclasses.replace(options, batch_size=resolve_batch_size(options, load_config(path)))
        if Path(path).is_dir() and (Path(path) / "config.yaml").is_file():
            config = load_config(str(Path(path) / "config.yaml"))
            return dataclasses.replace(options, batch_size=resolve_batch_size(options, config))
    return options


def _options_meta(options: ReportOptions | None) -> dict[str, Any]:
    return options.as_meta() if options is not None else {}


def _labels(paths: list[str]) -> list[str]:
    """Short unique column names: file stems, widened with parent folders until they differ."""
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max(len(x) for x in parts) + 1):
        labels = ["/".join(x[-depth:]) for x in parts]
        if depth == 1:
            labels = [Path(p).stem or Path(p).name for p in paths]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{i + 1}: {Path(p).stem}" for i, p in enumerate(paths)]


def build_comparison(reports: list[Report], kinds: list[InputKind], paths: list[str], meta: ReportMeta) -> Comparison:
    facts = [key_facts(r) for r in reports]
    labels = _labels(paths)
    columns = [CompareColumn(label=label, path=str(path), kind=kind, title=r.title, model_class=f["model_class"],
                             architecture=f["architecture"], batch_size=f["batch_size"], target=f["target"])
               for label, path, kind, r, f in zip(labels, paths, kinds, reports, facts, strict=True)]
    tables = [
        _config_table(reports),
        _overview_table(facts),
        _group_table("params-by-type", "Parameters by module type", [f["params_by_type"] for f in facts]),
        _group_table("params-by-module", "Parameters by top-level module", [f["params_by_module"] for f in facts]),
        _cost_table(facts),
        _checkpoint_table(facts),
        _findings_table(reports, facts),
    ]
    tables = [t for t in tables if t.rows or t.id == "config"]
    return Comparison(meta=meta, title="Comparison of " + ", ".join(labels), columns=columns, tables=tables,
                      charts=_charts(labels, facts), notes=_notes(columns))


def _row(key: str, values: list[Any], unit: RowUnit = "") -> CompareRow:
    present = [v for v in values]
    return CompareRow(key=key, values=values, differs=len({repr(v) for v in present}) > 1, unit=unit)


def _config_table(reports: list[Report]) -> CompareTable:
    """Only the config keys whose resolved values differ (keys one input lacks count as differing)."""
    per_report = [config_values(r) for r in reports]
    keys: list[str] = []
    for values in per_report:
        keys.extend(k for k in values if k not in keys)
    rows = [_row(k, [v.get(k) for v in per_report]) for k in keys]
    missing = sum(1 for r in reports if r.config is None)
    differing = [r for r in rows if r.differs]
    notes = [(f"{missing} inputs carry no config." if missing > 1 else "1 input carries no config.") if missing else "",
             "" if differing else "The resolved configs are identical."]
    return CompareTable(id="config", title="Config differences", note=" ".join(n for n in notes if n),
                        rows=differing)


def _overview_table(facts: list[dict[str, Any]]) -> CompareTable:
    rows = [
        _row("Model class", [f["model_class"] for f in facts]),
        _row("Architecture", [f["architecture"] for f in facts]),
        _row("GENESIS code", [f["genesis_code"] for f in facts]),
        _row("Total parameters", [f["total_parameters"] for f in facts], "count"),
        _row("Trainable parameters", [f["trainable_parameters"] for f in facts], "count"),
        _row("Size (fp32)", [f["size_fp32_bytes"] for f in facts], "bytes"),
    ]
    return CompareTable(id="overview", title="Model", rows=rows)


def _group_table(table_id: str, title: str, groups: list[dict[str, int]]) -> CompareTable:
    names: list[str] = []
    for g in groups:
        names.extend(n for n in g if n not in names)
    rows = [_row(n, [g.get(n, 0) for g in groups], "count") for n in names]
    return CompareTable(id=table_id, title=title, rows=rows)


def _cost_table(facts: list[dict[str, Any]]) -> CompareTable:
    rows = [
        _row("Batch size", [f["batch_size"] for f in facts], "count"),
        _row("Target", [f["target"] for f in facts]),
    ]
    if any(f["peak_memory_bytes"] is not None for f in facts):
        rows.append(_row("Predicted peak memory", [f["peak_memory_bytes"] for f in facts], "bytes"))
    if any(f["flops"] is not None for f in facts):
        rows.append(_row("FLOPs per training step", [f["flops"] for f in facts], "flops"))
    return CompareTable(id="cost", title="Memory and FLOPs", rows=rows)


def _checkpoint_table(facts: list[dict[str, Any]]) -> CompareTable:
    names: list[str] = []
    for f in facts:
        names.extend(n for n in f["checkpoint"] if n not in names)
    labels = {"epoch": "Epoch (0-based)", "epochs_completed": "Epochs completed", "global_step": "Global step",
              "best_loss": "Best loss", "suffix": "Suffix"}
    units: dict[str, RowUnit] = {"best_loss": "loss", "epoch": "count", "epochs_completed": "count",
                                 "global_step": "count"}
    rows = [_row(labels.get(n, n), [f["checkpoint"].get(n) for f in facts], units.get(n, "")) for n in names]
    return CompareTable(id="checkpoint", title="Checkpoint", rows=rows)


def _findings_table(reports: list[Report], facts: list[dict[str, Any]]) -> CompareTable:
    """What is wrong with each input: its status, findings by severity, weight health (tensor counts)."""
    rows = [_row("Status", [report_status(r, f)["status"] for r, f in zip(reports, facts, strict=True)])]
    rows += [_row(f"{sev.capitalize()} findings", [f["findings"][sev] for f in facts], "count")
             for sev in ("security", "error", "warning", "info")]
    rows += [_row(label.capitalize(), [f["weight_health"].get(code, 0) for f in facts], "count")
             for code, label in WEIGHT_HEALTH_CODES.items()
             if any(f["weight_health"].get(code) for f in facts)]
    return CompareTable(id="findings", title="Findings and weight health", rows=rows)


def _charts(labels: list[str], facts: list[dict[str, Any]]) -> list[Chart]:
    # grouped_bar, not bar: one bar per input, no share of a sum (which would mean nothing here).
    charts = [Chart(id="compare-total-params", title="Total parameters", kind="grouped_bar", categories=labels,
                    series=[Series(name="parameters", values=[float(f["total_parameters"]) for f in facts])],
                    unit="count")]
    types: list[str] = []
    for f in facts:
        types.extend(n for n in f["params_by_type"] if n not in types)
    charts.append(Chart(id="compare-params-by-type", title="Parameters by module type", kind="stacked_bar",
                        categories=labels, series=[Series(name=t, values=[float(f["params_by_type"].get(t, 0))
                                                                          for f in facts]) for t in types],
                        totals=[float(sum(f["params_by_type"].get(t, 0) for t in types)) for f in facts],
                        unit="count"))
    if all(f["peak_memory_bytes"] is not None for f in facts):
        charts.append(Chart(id="compare-peak-memory", title="Predicted peak memory", kind="bar", categories=labels,
                            series=[Series(name="peak", values=[float(f["peak_memory_bytes"]) for f in facts])],
                            unit="bytes"))
    return charts


def _notes(columns: list[CompareColumn]) -> list[str]:
    notes = []
    if len({c.batch_size for c in columns}) > 1:
        notes.append("Inputs were analysed at different batch sizes ("
                     + ", ".join(f"{c.label}: {c.batch_size}" for c in columns)
                     + "); memory and FLOPs are not comparable across them.")
    if len({c.target for c in columns}) > 1:
        notes.append("Inputs were analysed for different targets ("
                     + ", ".join(f"{c.label}: {c.target}" for c in columns) + ").")
    return notes
