"""`genesis-report compare A B [C ...]`: the command's work (cli.py only parses arguments)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reporter.compare.build import compare_reports
from reporter.output_options import add_output_arguments


def add_arguments(parser: argparse.ArgumentParser, positive_int) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="configs (.yaml), checkpoints, task folders or earlier JSON reports (two or more)")
    add_output_arguments(parser, "comparison")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="one batch size for every analysed input (default: the first config's)")
    from reporter.target_options import add_target_arguments

    add_target_arguments(parser)  # the same target for every analysed input
    parser.add_argument("--no-memory", action="store_true", help="skip the traced memory and FLOPs analysis")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def run_compare(args: argparse.Namespace) -> int:
    from reporter.output import check_outputs, publish, stdout_format
    from reporter.render import format_for_path
    from reporter.tasks.folder import input_files

    outputs = [(path, format_for_path(path, args.format)) for path in args.output]
    check_outputs([path for path, _ in outputs], input_files(args.inputs))
    options = None  # archived JSON reports alone need no analysis (and no torch import)
    if (any(Path(p).suffix.lower() != ".json" for p in args.inputs) or args.batch_size or args.target
            or args.gpu_memory):
        from reporter.options import options_from_flags

        options = options_from_flags(batch_size=args.batch_size, target=args.target, gpu_memory=args.gpu_memory,
                               memory=not args.no_memory)
    comparison = compare_reports(args.inputs, options)
    publish("compare", comparison, outputs, stdout=stdout_format(args.format, outputs, args.quiet),
            embed_images=args.embed_images)
    return 0
