"""`--target` and `--gpu-memory`: one definition for the report, compare and index commands, checked once.

Import-light (no torch): the values are validated right after parsing, before any analysis starts, so a
typo such as `--target A100` is one line and exit status 2 in every command, never a per-task failure.
"""

from __future__ import annotations

import argparse

from reporter.memory.target_choice import ENV_TARGET, PROJECT_FILE, default_setting, option_setting

TARGET_HELP = (
    "memory target: cpu, A100-40GB, A100-80GB, H100-80GB, H200-141GB, L4-24GB, T4-16GB, or cuda (optionally "
    f"with --gpu-memory). Default: the GPU named by {ENV_TARGET} or {PROJECT_FILE}, for inputs that train on "
    "CUDA; the CPU for a config with device: cpu; else a CUDA GPU of unknown size (no fit verdicts)"
)


def add_target_arguments(group: argparse._ActionsContainer) -> None:
    group.add_argument("--target", metavar="NAME", help=TARGET_HELP)
    group.add_argument("--gpu-memory", metavar="SIZE",
                       help="memory of the CUDA GPU (e.g. 24GB or 48GiB): overrides a named target's size, or "
                            "with --target cuda (or alone) describes another GPU")


def validate_target_args(args: argparse.Namespace) -> None:
    """Raise InputError (exit 2) for a bad --target/--gpu-memory or a bad default in the environment/files."""
    target, gpu_memory = getattr(args, "target", None), getattr(args, "gpu_memory", None)
    if option_setting(target, gpu_memory) is None:
        default_setting()
