"""`python -m reporter` is the same as the `genesis-report` command."""

from reporter.cli import command

command()
