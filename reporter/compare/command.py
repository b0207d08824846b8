"""`genesis-report compare A B [C ...]`: the command's work (cli.py only parses arguments)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reporter.compare.build import compare_reports
from reporter.compare.render import render_comparison
from reporter.output_options import add_output_arguments


def add_arguments(parser: argparse.ArgumentParser, positive_int) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="configs (.yaml), checkpoints, task folders or earlier JSON reports (two or more)")
    add_output_arguments(parser, "comparison")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="one batch size for every analysed input (default: the first config's)")
    parser.add_argument("--target", metavar="DEVICE",
                        help="device for memory figures (e.g. cpu, cuda, h100); same for every analysed input")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the traced memory and FLOPs analysis of the analysed inputs")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def run_compare(args: argparse.Namespace) -> int:
    from reporter.output import write_rendered
    from reporter.render import format_for_path

    outputs = [(path, format_for_path(path, args.format)) for path in args.output]
    options = None  # archived JSON reports alone need no analysis (and no torch import)
    if any(Path(p).suffix.lower() != ".json" for p in args.inputs) or args.batch_size or args.target:
        from reporter.compare.options import make_options

        options = make_options(batch_size=args.batch_size, target=args.target,
                               memory=False if args.no_memory else None)
    comparison = compare_reports(args.inputs, options)
    rendered = [(path, render_comparison(comparison, fmt, stem=Path(path).stem, embed_images=args.embed_images))
                for path, fmt in outputs]
    for path, document in rendered:
        write_rendered(path, document)
    if not args.quiet:
        fmt = args.format if (args.format and not outputs) else "terminal"
        sys.stdout.write(render_comparison(comparison, fmt).text)
    for path, _ in outputs:
        print(f"wrote {path} ({os.path.getsize(path):,} bytes)", file=sys.stderr)
    return 0
