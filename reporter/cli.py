"""Command line: `genesis-report --config X | --checkpoint Y | TASK_DIR [-o out.html ...]`,
`genesis-report compare A B [C ...]`, `genesis-report index TASKS_DIR`.

Exit status: 0 success; 1 a CI gate failed (report still written); 2 bad input (one line, no output
file); 3 the checkpoint holds a security finding (report still written); 70 internal error.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from reporter import __version__
from reporter.errors import InputError, ReportError, no_such_file
from reporter.output_options import add_output_arguments

if TYPE_CHECKING:
    from reporter.options import ReportOptions
    from reporter.report.base import Chart
    from reporter.report.model import Report

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_SECURITY, EXIT_INTERNAL = 0, 1, 2, 3, 70


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genesis-report",
        description="Exact reports (terminal, HTML, Markdown, JSON) for GENESIS models, configs and checkpoints.",
        epilog="Other commands: `genesis-report compare A B [C ...]` (configs, checkpoints, task folders, JSON "
               "reports side by side) and `genesis-report index TASKS_DIR` (one row per task); see --help of each.",
    )
    source = parser.add_argument_group("input")
    source.add_argument("task", nargs="?", metavar="TASK_DIR",
                        help="a GENESIS task folder (config.yaml, checkpoints/, logs/); writes its reports/")
    source.add_argument("--config", metavar="YAML", help="GENESIS YAML config")
    source.add_argument("--checkpoint", metavar="FILE", help="checkpoint (.pt/.pth/.safetensors)")
    source.add_argument("--model-class", metavar="PKG.MOD:CLASS",
                        help="build this nn.Module class (imports your code) with kwargs from `model:`")
    out = parser.add_argument_group("output")
    add_output_arguments(out, "report")
    out.add_argument("--verbose", action="store_true", help="list every module with parameter shapes")
    what = parser.add_argument_group("analysis")
    what.add_argument("--no-cache", action="store_true",
                      help="neither reuse nor store traced sections (analysis cache) or checkpoint digests; "
                           "GENESIS_REPORT_NO_CACHE=1 does the same")
    what.add_argument("--no-digest-cache", action="store_true",
                      help="always hash the checkpoint and leave the digest cache alone")
    what.add_argument("--verify-digest", action="store_true",
                      help="always hash the checkpoint (the default when CI=true); the cache is refreshed")
    what.add_argument("--batch-size", type=_positive_int, metavar="N",
                      help="batch size for memory and data-flow figures (default: data.batch_size, else 512)")
    from reporter.target_options import add_target_arguments

    add_target_arguments(what)
    what.add_argument("--sample-batch", type=_positive_int, metavar="N",
                      help="also predict the peak of one sampling (inference) step at this batch size")
    what.add_argument("--amp-dtype", choices=["fp16", "bf16"],
                      help="mixed precision to trace (default: fp16 on CUDA as GENESIS trains, bf16 on CPU)")
    what.add_argument("--no-memory", action="store_true", help="skip the traced memory and FLOPs analysis")
    from reporter.models.versions import version_names

    what.add_argument("--genesis-version", choices=version_names(), metavar="VERSION",
                      help="which GENESIS code a config is for (a checkpoint's weights decide for themselves): "
                           + ", ".join(version_names()) + " (default: pmt_dit@27a044fa, pmt_c_dit@8b1d32d6)")
    from reporter import gates

    gates.add_arguments(parser)
    parser.add_argument("--schema", action="store_true", help="print the report JSON Schema and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--version", action="version", version=f"genesis-report {__version__}")
    return parser


SUBCOMMANDS = ("compare", "index")


def build_subcommand_parser(command: str) -> argparse.ArgumentParser:
    """`compare` and `index` have their own arguments (the report form keeps its flat flags)."""
    if command == "compare":
        from reporter.compare.command import add_arguments

        parser = argparse.ArgumentParser(prog="genesis-report compare",
                                         description="Compare configs, checkpoints, task folders or JSON reports "
                                                     "side by side.")
        add_arguments(parser, _positive_int)
    else:
        from reporter.tasks.command import add_index_arguments

        parser = argparse.ArgumentParser(prog="genesis-report index",
                                         description="Report on every task folder and write a sortable index.")
        add_index_arguments(parser, _positive_int)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def command() -> NoReturn:
    """The `genesis-report` command: :func:`main`, then exit without a last garbage collection.

    At exit, Python collects every object torch and the report created (0.26 s of a 1.4 s warm report on
    2 cores); frozen, they are left to the process's end, which frees them all at once (0.15 s saved,
    bench/cli_speed.py). Files and streams are closed as on any exit.
    """
    status = main()
    gc.freeze()
    sys.exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        args = build_subcommand_parser(argv[0]).parse_args(argv[1:])
        args.command = argv[0]
    else:
        args = build_parser().parse_args(argv)
        args.command = None
    try:
        return _run(args)
    except ReportError as exc:
        from reporter.render.escape import visible

        print(f"genesis-report: error: {visible(exc)}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("genesis-report: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for users unless asked
        if args.debug:
            raise
        from reporter.render.escape import visible

        print(f"genesis-report: internal error: {type(exc).__name__}: {visible(exc)} (rerun with --debug for details)",
              file=sys.stderr)
        return EXIT_INTERNAL


def _run(args: argparse.Namespace) -> int:
    """One command: compare, index, --schema, or a report (on a config, checkpoint, class or task folder)."""
    from reporter.target_options import validate_target_args

    validate_target_args(args)  # before any work: a bad target is one line and exit 2 in every command
    if args.command == "compare":
        from reporter.compare.command import run_compare

        return run_compare(args)
    if args.command == "index":
        from reporter.tasks.command import run_index

        return run_index(args)
    if args.schema:
        import json

        from reporter.report.schema import report_json_schema

        print(json.dumps(report_json_schema(), indent=2))
        return EXIT_OK
    return _run_report(args)


def _run_report(args: argparse.Namespace) -> int:
    """Choose the input, check the outputs, make the report, write it, and work out the exit status."""
    from reporter import gates
    from reporter.output import publish, stdout_format
    from reporter.render import format_for_path

    gate_spec = gates.from_args(args)
    _choose_input(args)
    outputs = [(path, format_for_path(path, args.format)) for path in args.output]
    _check_outputs(args, outputs)
    options = _report_options(args, outputs)
    report, document, outputs = _make_report(args, options, outputs)
    publish("report", document, outputs, stdout=stdout_format(args.format, outputs, args.quiet),
            embed_images=args.embed_images, verbose=args.verbose, cache=options.cache)
    failed = gates.conclude(report, gate_spec, args.summary_md, [path for path, _ in outputs])
    return _exit_status(report, failed)


def _choose_input(args: argparse.Namespace) -> None:
    """What to report on: a file given as TASK_DIR is a config (.yaml/.yml) or a checkpoint; one input kind."""
    if args.task and not args.config and not args.checkpoint and Path(args.task).is_file():
        args.config = args.task if Path(args.task).suffix.lower() in (".yaml", ".yml") else None
        args.checkpoint = None if args.config else args.task
        args.task = None
    if not args.config and not args.checkpoint and not args.task and not args.model_class:
        raise InputError("nothing to report on: give --config YAML, --checkpoint FILE, --model-class "
                         "or a task folder")
    if args.task and (args.config or args.checkpoint):
        raise InputError("give either a task folder or --config/--checkpoint, not both")


def _report_options(args: argparse.Namespace, outputs: Outputs) -> ReportOptions:
    from reporter.options import ReportOptions

    return ReportOptions(verbose=args.verbose, batch_size=args.batch_size, model_class=args.model_class,
                         target=args.target, gpu_memory=args.gpu_memory, sample_batch=args.sample_batch,
                         amp_dtype=args.amp_dtype, memory=not args.no_memory,
                         genesis_version=args.genesis_version, cache=not args.no_cache,
                         digest_cache=not (args.no_digest_cache or args.no_cache),
                         verify_digest=args.verify_digest,
                         while_waiting=_chart_drawer(outputs, task=bool(args.task), cache=not args.no_cache))


Outputs = list[tuple[str, str]]


def _make_report(args: argparse.Namespace, options: ReportOptions,
                 outputs: Outputs) -> tuple[Report, Report, Outputs]:
    """(the report, the document to write, the outputs): a task folder's document carries its task section
    and is written to its reports/ folder unless -o says otherwise."""
    from reporter.pipeline import checkpoint_report, config_report, model_class_report

    if args.task:
        from reporter.tasks.report import default_outputs, task_report

        if not Path(args.task).exists():
            raise no_such_file(args.task, "file or folder")
        task = task_report(args.task, options)
        if not outputs:
            outputs = [(str(p), p.suffix.lstrip(".")) for p in default_outputs(task)]
            Path(outputs[0][0]).parent.mkdir(exist_ok=True)
        return task.report, task.combined(), outputs
    if args.checkpoint:
        report = checkpoint_report(args.checkpoint, options, config_path=args.config, progress=_progress_printer())
    elif args.config:
        report = config_report(args.config, options)
    else:
        report = model_class_report(options)
    return report, report, outputs


def _exit_status(report: Report, gate_failed: int) -> int:
    """3 when the input asks to run code when loaded (the report is written), else 1 when a gate failed."""
    from reporter.report_facts import exit_status

    if exit_status(report.findings) == EXIT_SECURITY:
        print("genesis-report: security: the checkpoint asks to run code when loaded (nothing was run); "
              "see the report's security findings", file=sys.stderr)
        return EXIT_SECURITY
    return EXIT_GATE if gate_failed else EXIT_OK


def _check_outputs(args: argparse.Namespace, outputs: Outputs) -> None:
    """Before any work: output folders exist and are writable, and no output is (a link to) an input."""
    from reporter.output import check_outputs
    from reporter.tasks.folder import input_files

    paths = [path for path, _ in outputs] + ([args.summary_md] if args.summary_md else [])
    may_create: list[Path] = []
    if args.task and not outputs and Path(args.task).is_dir():
        from reporter.tasks.report import default_outputs

        paths += [str(p) for p in default_outputs(args.task)]
        may_create.append(Path(args.task) / "reports")
    check_outputs(paths, input_files([args.config, args.checkpoint, args.task]), may_create)


def _chart_drawer(outputs: Outputs, task: bool = False, cache: bool = True) -> Callable[[list[Chart]], None] | None:
    """Draw charts ahead of rendering (while the memory steps are traced in a child) when an output has them
    (a task folder's default outputs always do)."""
    if not task and not any(fmt in ("html", "md") for _, fmt in outputs):
        return None
    from reporter.render.charts import chart_to_svg

    def draw(charts: list[Chart]) -> None:
        for chart in charts:
            chart_to_svg(chart, cache)

    return draw


def _progress_printer() -> Callable[[str, float], None] | None:
    """Progress on stderr for long work (weight statistics of large files), only on a terminal."""
    if not sys.stderr.isatty():
        return None
    shown: dict[str, int] = {}

    def progress(label: str, fraction: float) -> None:
        percent = int(fraction * 100)
        if shown.get(label) == percent:
            return
        shown[label] = percent
        end = "\n" if percent >= 100 else ""
        print(f"\r{label}: {percent:3d}%", end=end, file=sys.stderr, flush=True)

    return progress
