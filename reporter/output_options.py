"""The output formats and the command-line options that choose them, shared by the report and compare
commands so both parse -o/--format/--embed-images/-q the same way. Import-light: argument parsing must
not pull in the renderers."""

from __future__ import annotations

import argparse

FORMATS = ("terminal", "html", "md", "json")


def format_name(text: str) -> str:
    """A --format value; ``txt`` (the suffix of a saved terminal report) names the terminal format."""
    return "terminal" if text == "txt" else text


def add_output_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, subject: str) -> None:
    """-o (repeatable, format from the suffix), --format, --embed-images and -q; ``subject`` names what
    is written ("report", "comparison") in the help."""
    parser.add_argument("-o", "--output", action="append", default=[], metavar="PATH",
                        help=f"write the {subject}; format from the suffix (.html .md .json .txt); repeatable")
    parser.add_argument("--format", choices=("terminal", "txt", *FORMATS[1:]), type=format_name,
                        help="format for -o when the suffix does not say, or for stdout (txt is the terminal "
                             "text)")
    parser.add_argument("--embed-images", action="store_true", help="Markdown: inline charts instead of SVG files")
    parser.add_argument("-q", "--quiet", action="store_true", help=f"do not print the terminal {subject}")
