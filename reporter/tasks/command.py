"""`genesis-report index tasks/` and the positional task-folder form: the commands' work."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reporter.render.escape import visible
from reporter.tasks.index import build_index, print_progress


def add_index_arguments(parser: argparse.ArgumentParser, positive_int) -> None:
    parser.add_argument("root", metavar="TASKS_DIR", help="folder whose sub-folders are GENESIS tasks")
    parser.add_argument("-o", "--output", action="append", default=[], metavar="PATH",
                        help="write the index (.html .md .json .txt); default TASKS_DIR/index.html")
    parser.add_argument("-j", "--jobs", type=positive_int, default=1, metavar="N",
                        help="report on N tasks in parallel (worker processes)")
    parser.add_argument("--batch-size", type=positive_int, metavar="N", help="batch size for memory figures")
    from reporter.target_options import add_target_arguments

    add_target_arguments(parser)  # the same target for every task
    parser.add_argument("--no-memory", action="store_true", help="skip the traced memory and FLOPs analysis")
    parser.add_argument("--rebuild", action="store_true",
                        help="report on every task again (by default a task whose inputs, options and genesis-report "
                             "are unchanged since its reports/ were written reuses them)")
    parser.add_argument("--no-task-reports", action="store_true",
                        help="do not write each task's reports/ (the index then has no links)")
    parser.add_argument("--no-progress", action="store_true", help="do not print a line per finished task")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print the index table")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def run_index(args: argparse.Namespace) -> int:
    from reporter.options import options_from_flags
    from reporter.output import check_outputs, publish
    from reporter.render import format_for_path
    from reporter.tasks.folder import input_files

    paths = args.output or [str(Path(args.root) / "index.html")]
    outputs = [(path, format_for_path(path)) for path in paths]
    check_outputs(paths, input_files([args.root]) if Path(args.root).is_dir() else [])
    index_dir = Path(paths[0]).parent
    options = options_from_flags(batch_size=args.batch_size, target=args.target, gpu_memory=args.gpu_memory,
                           memory=not args.no_memory)
    index = build_index(args.root, options, jobs=args.jobs, index_dir=index_dir,
                        progress=None if args.no_progress else print_progress,
                        write_reports=not args.no_task_reports, reuse=not args.rebuild)
    publish("index", index, outputs, stdout=None if args.quiet else "terminal")
    failed = [row for row in index.rows if row.error]
    if index.rows and len(failed) == len(index.rows):
        print(visible(f"genesis-report: error: every task failed ({len(failed)}); the first: {failed[0].name}: "
                      f"{failed[0].error}"), file=sys.stderr)
        return 2
    return 0
