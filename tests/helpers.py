"""Helpers shared by tests: run the CLI in-process or as a subprocess, write small YAML files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: int = 180) -> subprocess.CompletedProcess[str]:
    """Run `python -m reporter` as a user would (fresh process, real exit status)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "reporter", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def default_config() -> dict:
    return yaml.safe_load((CONFIGS / "default.yaml").read_text())


def model_section(config: str = "default.yaml") -> dict:
    """The `model:` section of a shipped config."""
    return yaml.safe_load((CONFIGS / config).read_text())["model"]


def flow_of(cfg: dict, batch_size: int):
    """The data-flow section of the zoo model a `model:` section builds (meta weights, fake inputs)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from reporter.flow import analyse_flow
    from reporter.models import get_architecture

    spec = get_architecture(cfg.get("architecture", "dit"))
    with torch.device("meta"):
        model = spec.build(cfg)
    with FakeTensorMode():
        inputs = spec.example_inputs(cfg, batch_size)
    return analyse_flow(model, inputs, spec=spec, model_cfg=cfg, batch_size=batch_size)
