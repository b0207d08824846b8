"""genesis-report: exact, archivable reports for GENESIS PyTorch models, configs and checkpoints."""

__version__ = "0.1.0"
