"""Which hardware a report's memory figures describe: the GPU the model trains on, not the machine that
happens to run the report (a CI runner is a CPU; GENESIS trains on CUDA).

Order: `--target` when given; else the CPU when the config trains there (`device: cpu`); else the GPU named
by `GENESIS_REPORT_TARGET` (with `GENESIS_REPORT_GPU_MEMORY`), by `genesis-report.toml` in the current
folder or a parent, or by the user's `$XDG_CONFIG_HOME/genesis-report/config.toml` (a `[memory]` table
with `target` and optional `gpu_memory`); else a CUDA GPU of unknown size: kernel rules of sm80 and newer,
no capacity, so no "does not fit" verdicts. Every value is checked when it is read, before any work.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from reporter.errors import InputError
from reporter.memory.targets import TargetProfile, generic_cuda_target, target_from_name

ENV_TARGET = "GENESIS_REPORT_TARGET"
ENV_GPU_MEMORY = "GENESIS_REPORT_GPU_MEMORY"
PROJECT_FILE = "genesis-report.toml"
USER_FILE = Path("genesis-report") / "config.toml"


@dataclass(frozen=True)
class TargetSetting:
    """A target named somewhere (`--target`, the environment, a settings file), already validated."""

    name: str
    gpu_memory: str | None
    origin: str  # "--target", "GENESIS_REPORT_TARGET", or a settings file path

    def profile(self) -> TargetProfile:
        return target_from_name(self.name, self.gpu_memory)


@dataclass(frozen=True)
class TargetChoice:
    """The target a report uses, and why (shown next to the memory figures)."""

    profile: TargetProfile
    basis: str


def option_setting(name: str | None, gpu_memory: str | None) -> TargetSetting | None:
    """`--target`/`--gpu-memory` as a validated setting (None when --target is not given)."""
    if name is None:
        if gpu_memory is not None:
            target_from_name("cuda", gpu_memory)  # the size itself must read
        return None if gpu_memory is None else _checked(TargetSetting("cuda", gpu_memory, "--gpu-memory"))
    return _checked(TargetSetting(name, gpu_memory, "--target"))


def default_setting(cwd: Path | None = None) -> TargetSetting | None:
    """The GPU users set as their default (environment, project file, user file), validated."""
    name = os.environ.get(ENV_TARGET, "").strip()
    if name:
        memory = os.environ.get(ENV_GPU_MEMORY, "").strip() or None
        return _checked(TargetSetting(name, memory, ENV_TARGET))
    for path in _settings_files(cwd or Path.cwd()):
        setting = _read_settings(path)
        if setting is not None:
            return setting
    return None


def choose_target(asked: TargetSetting | None, config_device: str | None,
                  default: TargetSetting | None) -> TargetChoice:
    """The target for one report: asked > a CPU config > the user's default GPU > a CUDA GPU of unknown size."""
    if asked is not None:
        return TargetChoice(asked.profile(), f"chosen with {asked.origin}")
    device = str(config_device or "auto").strip().lower()
    if device == "cpu":
        return TargetChoice(target_from_name("cpu"), "the config trains on the CPU (device: cpu)")
    trains = f"the config trains on CUDA (device: {device}"
    if device == "auto":
        trains += ", which GENESIS resolves to cuda when a GPU is present"
    trains += ")"
    if default is not None:
        return TargetChoice(default.profile(), f"{trains}; GPU from {default.origin}")
    return TargetChoice(generic_cuda_target(),
                        f"{trains}; no GPU chosen (--target, {ENV_TARGET} or {PROJECT_FILE}), so the figures have "
                        "no capacity to fit")


def _checked(setting: TargetSetting) -> TargetSetting:
    try:
        setting.profile()
    except InputError as exc:
        raise InputError(f"{setting.origin}: {exc.problem}") from None
    return setting


def _settings_files(cwd: Path) -> list[Path]:
    found = [folder / PROJECT_FILE for folder in (cwd, *cwd.parents) if (folder / PROJECT_FILE).is_file()][:1]
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    user = Path(base) / USER_FILE
    return found + ([user] if user.is_file() else [])


def _read_settings(path: Path) -> TargetSetting | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read the settings: {exc}", path) from None
    memory = data.get("memory", {})
    if not isinstance(memory, dict):
        raise InputError("`memory` must be a table", path)
    name, gpu_memory = memory.get("target"), memory.get("gpu_memory")
    if name is None:
        return None
    if not isinstance(name, str) or (gpu_memory is not None and not isinstance(gpu_memory, (str, int))):
        raise InputError("`memory.target` must be a string and `memory.gpu_memory` a size such as \"80GB\"", path)
    setting = TargetSetting(name, None if gpu_memory is None else str(gpu_memory), str(path))
    try:
        setting.profile()
    except InputError as exc:
        raise InputError(exc.problem, path) from None
    return setting
