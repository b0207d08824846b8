"""Safe, fast reading and analysis of GENESIS checkpoints (nothing in a file is ever executed)."""

from reporter.checkpoint.reader import CheckpointFile, read_checkpoint

__all__ = ["CheckpointFile", "read_checkpoint"]
